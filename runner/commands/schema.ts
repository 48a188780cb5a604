/** `distillery schema [FILE]`: the editor JSON Schema, with each node type's params and ports (see editor-schema.ts). */
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';

const HELP = `Usage: distillery schema [FILE]

Prints the JSON Schema editors use to check and complete pipeline files: the pipeline format, and for every node
type the params its with: accepts (with their descriptions and defaults) and the ports its in: takes. Without FILE,
the built-in types (this is docs/pipeline.schema.json); with FILE, also the types of that pipeline's imports:.
Point an editor at it with a first line such as
  # yaml-language-server: $schema=../docs/pipeline.schema.json

Exit codes: 0 ok, 2 bad input (an import that cannot be loaded).
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({args: [...args], allowPositionals: true, options: {}});
  if (!parsed.ok || parsed.value.positionals.length > 1) {
    io.stderr.write(`distillery schema: ${parsed.ok ? 'expected at most one pipeline FILE' : parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const [{pipelineTypes}, {editorSchema}, {renderDiagnostics}] = await Promise.all([
    import('../pipeline-types.js'),
    import('../editor-schema.js'),
    import('../diagnostic.js'),
  ]);
  const types = await pipelineTypes(parsed.value.positionals[0], io.cwd);
  if (!types.ok) {
    io.stderr.write(renderDiagnostics(types.error, {color: io.stderr.isTTY === true}));
    return EXIT.badInput;
  }
  io.stdout.write(JSON.stringify(editorSchema(types.value), null, 2) + '\n');
  return EXIT.ok;
}

const command: Command = {summary: 'print the editor JSON Schema (node types with their params and ports)', help: HELP, run};
export default command;
