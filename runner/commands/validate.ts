/** `distillery validate FILE`: checks a pipeline (schema, types, params, wiring, references) without running it. */
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {analyzeOrReport} from './analyze-or-report.js';
import {parseOptions} from './parse-options.js';

const HELP = `Usage: distillery validate FILE [--set KEY=VALUE]...

Checks a pipeline without running anything: YAML syntax, the pipeline schema, node types and their params,
inputs and port kinds, cycles and \${...} references. Every problem is reported at once, with its location.

Options:
  --set KEY=VALUE     override a value of the pipeline (repeatable), e.g. --set grid.alpha=[0.3]

Exit codes: 0 valid, 2 problems found.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({args: [...args], allowPositionals: true, options: {set: {type: 'string', multiple: true}}});
  if (!parsed.ok || parsed.value.positionals.length !== 1) {
    io.stderr.write(`distillery validate: ${parsed.ok ? 'expected exactly one pipeline FILE' : parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const file = parsed.value.positionals[0] ?? '';
  const plan = await analyzeOrReport(file, parsed.value.values.set ?? [], io, 'none');
  if (plan === undefined) return EXIT.badInput;
  const variants = plan.variants.length;
  io.stdout.write(`ok: ${file}: ${plan.nodes.size} node instance${plan.nodes.size === 1 ? '' : 's'}, ${variants} variant${variants === 1 ? '' : 's'}\n`);
  return EXIT.ok;
}

/** The `validate` command. */
const command: Command = {summary: 'check a pipeline file and report every problem', help: HELP, run};
export default command;
