/**
 * `distillery results FILE`: one row per grid variant with its grid values and the metrics of its terminal instances,
 * read from the cache manifests of the current plan's keys (like `dvc exp show`). Nothing is computed.
 */
import {resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import type {JsonValue} from '../../nodes/api.js';
import type {Plan} from '../plan.js';
import type {Manifest} from '../../cache/manifest.js';
import {unreachable} from '../unreachable.js';

const HELP = `Usage: distillery results FILE [options]

Shows one row per grid variant: its grid values, then the metrics of its terminal instances (columns
<node>.<metric>; repeated instances of one node are averaged), read from the cache. Variants whose results are not
all cached yet say how many instances are missing.

Options:
  --set KEY=VALUE      override a value of the pipeline (repeatable), as for run
  --format md|csv|json output format (default md)
${STORE_HELP}

With a remote, instances not in the local cache are read from the remote's manifests (metrics travel in the
manifest, so nothing is downloaded).

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

/** Reads the rows of a plan from the manifests `manifestOf` finds (undefined: not computed yet). */
export async function collectResults(plan: Plan, manifestOf: (key: string) => Promise<Manifest | undefined>): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const variant of plan.variants) {
    const sums = new Map<string, {total: number; count: number}>();
    let missing = 0;
    for (const id of variant.terminals) {
      const node = plan.nodes.get(id);
      if (node === undefined) continue;
      const manifest = await manifestOf(node.key);
      if (manifest === undefined) {
        missing++;
        continue;
      }
      for (const [name, value] of Object.entries(manifest.metrics)) {
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
    options: {set: {type: 'string', multiple: true}, format: {type: 'string'}, ...STORE_OPTIONS},
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
  const opened = await openStore(values, io, {onlyIfExists: true});
  if (opened === undefined) return EXIT.badInput;
  const rows = await collectResults(plan, async (key) => {
    // touch: false, so reading results does not count as a use for garbage collection.
    const local = await opened.store.get(key, {touch: false});
    return local.status === 'hit' ? local.entry.manifest : opened.tiered?.remoteManifest(key);
  });
  const trouble = opened.tiered?.remoteDown;
  opened.close();
  if (trouble !== undefined) io.stderr.write(`warning: remote ${opened.remote?.name ?? ''} is unavailable; showing the local cache only: ${trouble}\n`);
  io.stdout.write(renderResults(rows, format));
  return EXIT.ok;
}

const command: Command = {summary: 'table of grid variants and their metrics, from the cache', help: HELP, run};
export default command;
