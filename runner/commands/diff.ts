/** `distillery diff RUN_A RUN_B`: what differs between two recorded runs, settings and metrics side by side. */
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {TABLE_HELP, TABLE_OPTIONS, applyTableOptions, readTableOptions} from './table-options.js';
import type {RunSummary} from '../run-record.js';
import {renderTable} from '../table.js';
import type {Table} from '../table.js';
import {unreachable} from '../unreachable.js';

const HELP = `Usage: distillery diff RUN_A RUN_B [options]

Compares two recorded runs (ids from distillery runs; a unique prefix, latest or latest~N also work):
  - settings that differ: the --set overrides, the pipeline's params and grid, each node's resolved params
    (with.NAME), code and environment changes, instances only one run has, the machine and the version;
  - metrics: every metric of the result instances of either run, A, B and delta = B - A.
One table with the columns section (setting or metric), instance, name, a, b, delta; --where and --sort apply
to it (e.g. --where section=metric --where name=accuracy --sort delta:desc).

Options:
${TABLE_HELP}

Exit codes: 0 ok, 2 bad input.
`;

function header(a: RunSummary, b: RunSummary): Table {
  const row = (name: string, pick: (r: RunSummary) => string): Record<string, string> => ({'': name, A: pick(a), B: pick(b)});
  return {
    columns: ['', 'A', 'B'],
    rows: [
      row('run', (r) => r.runId),
      row('started', (r) => r.startedAt),
      row('pipeline', (r) => r.pipeline),
      row('status', (r) => r.status),
      row('overrides', (r) => (r.overrides ?? []).join(' ')),
    ],
  };
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({args: [...args], allowPositionals: true, options: {...TABLE_OPTIONS}});
  const usage = (message: string): number => {
    io.stderr.write(`distillery diff: ${message}\n\n${HELP}`);
    return EXIT.badInput;
  };
  if (!parsed.ok) return usage(parsed.message);
  const {values, positionals} = parsed.value;
  const options = readTableOptions(values);
  if (!options.ok) return usage(options.error);
  if (positionals.length !== 2) return usage('expected two runs, RUN_A and RUN_B');
  const [{readRunRecords, selectRuns}, {diffRuns}] = await Promise.all([import('../run-records.js'), import('../run-diff.js')]);
  const records = await readRunRecords(io.cwd);
  const picked: RunSummary[] = [];
  for (const name of positionals) {
    const selected = selectRuns(records.runs, [name]);
    if (!selected.ok) return usage(selected.error);
    if (name === 'all' || selected.value.length !== 1) return usage(`'${name}' must name one run`);
    picked.push(...selected.value);
  }
  const [a, b] = picked;
  if (a === undefined || b === undefined) return usage('expected two runs, RUN_A and RUN_B');
  const shown = applyTableOptions(diffRuns(a, b), options.value);
  if (!shown.ok) return usage(shown.error);
  switch (options.value.format) {
    case 'json': {
      const meta = (r: RunSummary): object => ({runId: r.runId, startedAt: r.startedAt, pipeline: r.pipeline, status: r.status, overrides: r.overrides ?? []});
      io.stdout.write(JSON.stringify({a: meta(a), b: meta(b), rows: shown.value.rows}, null, 2) + '\n');
      break;
    }
    case 'csv':
      io.stdout.write(renderTable(shown.value, 'csv'));
      break;
    case 'md': {
      const part = (section: string, columns: string[]): string => {
        const rows = shown.value.rows.filter((r) => r['section'] === section);
        return rows.length === 0 ? '(none)\n' : renderTable({columns, rows}, 'md');
      };
      io.stdout.write(
        [
          renderTable(header(a, b), 'md'),
          '## Settings that differ\n',
          part('setting', ['instance', 'name', 'a', 'b']),
          '## Metrics (delta = B - A)\n',
          part('metric', ['instance', 'name', 'a', 'b', 'delta']),
        ].join('\n'),
      );
      break;
    }
    default:
      return unreachable(options.value.format);
  }
  return EXIT.ok;
}

const command: Command = {summary: 'compare two recorded runs: settings that differ, metrics with deltas', help: HELP, run};
export default command;
