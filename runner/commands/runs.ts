/**
 * `distillery runs [FILE]`: the past runs recorded in `.distillery/runs` (like `nextflow log`): id, date, pipeline,
 * overrides, status, duration, machine and node counts.
 */
import {resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions, positiveInt} from './parse-options.js';
import {TABLE_HELP, TABLE_OPTIONS, applyTableOptions, readTableOptions} from './table-options.js';
import type {RunSummary} from '../run-record.js';
import type {Cell, Table} from '../table.js';
import {renderTable} from '../table.js';

const HELP = `Usage: distillery runs [FILE] [options]

Lists the runs recorded in .distillery/runs (every distillery run writes one), oldest first: run id, start time
(UTC), pipeline, the --set overrides it was given, status, duration in seconds, machine (host, cores, backend) and
how many instances ran, came from the cache, or failed. With FILE, only the runs of that pipeline file.
Use a run id (or a unique prefix, latest, latest~N) with distillery results --runs and distillery diff.

Options:
  --last N             only the N most recent runs (after --where)
${TABLE_HELP}

Exit codes: 0 ok, 2 bad input.
`;

function count(run: RunSummary, status: string): number {
  return run.nodes.filter((n) => n.status === status).length;
}

/** The runs as a table. */
export function runsTable(runs: readonly RunSummary[]): {table: Table; source: Map<Readonly<Record<string, Cell>>, RunSummary>} {
  const source = new Map<Readonly<Record<string, Cell>>, RunSummary>();
  const rows = runs.map((r) => {
    const m = r.machine;
    const cells: Record<string, Cell> = {
      run: r.runId,
      date: r.startedAt.replace('T', ' ').replace(/:\d\d\.\d+Z$/, ''),
      pipeline: r.pipeline,
      overrides: (r.overrides ?? []).join(' '),
      status: r.status,
      seconds: Math.round((Date.parse(r.finishedAt) - Date.parse(r.startedAt)) / 100) / 10,
      machine: m === undefined ? undefined : `${m.hostname} (${m.cpus} cores${m.backend === undefined ? '' : `, ${m.backend}`})`,
      ran: count(r, 'ran'),
      cached: count(r, 'cached'),
      failed: count(r, 'failed'),
    };
    source.set(cells, r);
    return cells;
  });
  return {table: {columns: ['run', 'date', 'pipeline', 'overrides', 'status', 'seconds', 'machine', 'ran', 'cached', 'failed'], rows}, source};
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({args: [...args], allowPositionals: true, options: {last: {type: 'string'}, ...TABLE_OPTIONS}});
  const usage = (message: string): number => {
    io.stderr.write(`distillery runs: ${message}\n\n${HELP}`);
    return EXIT.badInput;
  };
  if (!parsed.ok) return usage(parsed.message);
  const {values, positionals} = parsed.value;
  const options = readTableOptions(values);
  if (!options.ok) return usage(options.error);
  const last = positiveInt('last', values.last);
  if (typeof last === 'object') return usage(last.error);
  if (positionals.length > 1) return usage('expected at most one pipeline FILE');
  const {readRunRecords} = await import('../run-records.js');
  const records = await readRunRecords(io.cwd);
  const file = positionals[0] === undefined ? undefined : resolve(io.cwd, positionals[0]);
  const runs = records.runs.filter((r) => file === undefined || r.file === file);
  const {table, source} = runsTable(runs);
  const shown = applyTableOptions(table, options.value);
  if (!shown.ok) return usage(shown.error);
  const rows = last === undefined ? shown.value.rows : shown.value.rows.slice(-last);
  if (options.value.format === 'json') {
    // The whole record but its nodes, which `results --runs` and `diff` are for.
    const summaries = rows.map((r) => source.get(r)).map((s) => (s === undefined ? s : {...s, nodes: undefined}));
    io.stdout.write(JSON.stringify(summaries, null, 2) + '\n');
  } else {
    io.stdout.write(renderTable({columns: shown.value.columns, rows}, options.value.format));
  }
  for (const u of records.unreadable) io.stderr.write(`note: run ${u.runId} left out: ${u.reason}\n`);
  return EXIT.ok;
}

const command: Command = {summary: 'list past runs: id, date, pipeline, overrides, status, duration, machine', help: HELP, run};
export default command;
