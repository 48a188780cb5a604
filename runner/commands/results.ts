/**
 * `distillery results FILE`: one row per grid variant with its grid values and the metrics of its terminal instances,
 * read from the cache manifests of the current plan's keys (like `dvc exp show`). Nothing is computed.
 */
import {resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {resolveCacheDir} from './cache-dir.js';
import type {JsonValue} from '../../nodes/api.js';
import type {Plan} from '../plan.js';
import type {CacheStore} from '../../cache/store.js';
import {unreachable} from '../unreachable.js';

const HELP = `Usage: distillery results FILE [options]

Shows one row per grid variant: its grid values, then the metrics of its terminal instances (columns
<node>.<metric>; repeated instances of one node are averaged), read from the cache. Variants whose results are not
all cached yet say how many instances are missing.

Options:
  --set KEY=VALUE      override a value of the pipeline (repeatable), as for run
  --format md|csv|json output format (default md)
  --cache-dir DIR      cache location (default: $DISTILLERY_CACHE, else .distillery/cache)

Exit codes: 0 ok, 2 bad input.
`;

type Format = 'md' | 'csv' | 'json';

/** One row of the table. */
export interface ResultRow {
  readonly grid: Readonly<Record<string, JsonValue>>;
  readonly metrics: Readonly<Record<string, number>>;
  /** Terminal instances without a cache entry. */
  readonly missing: number;
}

/** Reads the rows of a plan from the cache (without touching LRU times). */
export async function collectResults(plan: Plan, store: CacheStore): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const variant of plan.variants) {
    const sums = new Map<string, {total: number; count: number}>();
    let missing = 0;
    for (const id of variant.terminals) {
      const node = plan.nodes.get(id);
      if (node === undefined) continue;
      const found = await store.get(node.key, {touch: false});
      if (found.status !== 'hit') {
        missing++;
        continue;
      }
      for (const [name, value] of Object.entries(found.entry.manifest.metrics)) {
        const column = `${node.name}.${name}`;
        const acc = sums.get(column) ?? {total: 0, count: 0};
        sums.set(column, {total: acc.total + value, count: acc.count + 1});
      }
    }
    const metrics = Object.fromEntries([...sums].sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, v.total / v.count]));
    rows.push({grid: variant.grid, metrics, missing});
  }
  return rows;
}

function cell(value: JsonValue | number | undefined): string {
  if (value === undefined) return '';
  if (typeof value === 'number') return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
  return typeof value === 'string' ? value : JSON.stringify(value);
}

function csvCell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** Renders rows as a table in the format. */
export function renderResults(rows: readonly ResultRow[], format: Format): string {
  if (format === 'json') return JSON.stringify(rows, null, 2) + '\n';
  const gridCols = [...new Set(rows.flatMap((r) => Object.keys(r.grid)))].sort();
  const metricCols = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  const header = [...gridCols, ...metricCols, 'status'];
  const body = rows.map((r) => [
    ...gridCols.map((c) => cell(r.grid[c])),
    ...metricCols.map((c) => cell(r.metrics[c])),
    r.missing === 0 ? 'done' : `${r.missing} missing`,
  ]);
  switch (format) {
    case 'csv':
      return [header, ...body].map((line) => line.map(csvCell).join(',')).join('\n') + '\n';
    case 'md': {
      const esc = (t: string): string => t.replace(/\|/g, '\\|');
      const lines = [
        `| ${header.map(esc).join(' | ')} |`,
        `|${header.map(() => ' --- ').join('|')}|`,
        ...body.map((line) => `| ${line.map(esc).join(' | ')} |`),
      ];
      return lines.join('\n') + '\n';
    }
    default:
      return unreachable(format);
  }
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {set: {type: 'string', multiple: true}, format: {type: 'string'}, 'cache-dir': {type: 'string'}},
  });
  if (!parsed.ok) {
    io.stderr.write(`distillery results: ${parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const format = values.format ?? 'md';
  if (positionals.length !== 1 || (format !== 'md' && format !== 'csv' && format !== 'json')) {
    io.stderr.write(`distillery results: expected one pipeline FILE and --format md, csv or json\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {analyzeOrReport} = await import('./analyze-or-report.js');
  const plan = await analyzeOrReport(resolve(io.cwd, positionals[0] ?? ''), values.set ?? [], io);
  if (plan === undefined) return EXIT.badInput;
  const {LocalStore} = await import('../../cache/local-store.js');
  const store = await LocalStore.open(resolveCacheDir(values['cache-dir'], io.env, io.cwd), {mode: 'read'});
  io.stdout.write(renderResults(await collectResults(plan, store), format));
  return EXIT.ok;
}

const command: Command = {summary: 'table of grid variants and their metrics, from the cache', help: HELP, run};
export default command;
