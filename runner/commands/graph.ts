/** `distillery graph FILE --format mermaid|dot`: the expanded instance graph, for docs and debugging. */
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {analyzeOrReport} from './analyze-or-report.js';
import {parseOptions} from './parse-options.js';
import {GRAPH_FORMATS, renderGraph} from '../graph-render.js';
import type {GraphFormat} from '../graph-render.js';

const HELP = `Usage: distillery graph FILE [--format mermaid|dot] [--set KEY=VALUE]...

Prints the expanded graph of node instances (after grid expansion and repeats), edges labelled with input ports.

Options:
  --format mermaid|dot  output format (default: mermaid)
  --set KEY=VALUE       override a value of the pipeline (repeatable)

Exit codes: 0 ok, 2 bad input.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {set: {type: 'string', multiple: true}, format: {type: 'string'}},
  });
  const format = parsed.ok ? parsed.value.values.format ?? 'mermaid' : 'mermaid';
  const problem = !parsed.ok
    ? parsed.message
    : parsed.value.positionals.length !== 1
      ? 'expected exactly one pipeline FILE'
      : !(GRAPH_FORMATS as readonly string[]).includes(format)
        ? `--format must be one of ${GRAPH_FORMATS.join(', ')}, got '${format}'`
        : undefined;
  if (problem !== undefined || !parsed.ok) {
    io.stderr.write(`distillery graph: ${problem}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const plan = await analyzeOrReport(parsed.value.positionals[0] ?? '', parsed.value.values.set ?? [], io);
  if (plan === undefined) return EXIT.badInput;
  io.stdout.write(renderGraph(plan, format as GraphFormat));
  return EXIT.ok;
}

/** The `graph` command. */
const command: Command = {summary: 'print the expanded instance graph (mermaid or dot)', help: HELP, run};
export default command;
