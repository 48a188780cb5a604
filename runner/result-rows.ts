/**
 * The rows of `distillery results`: one per result instance (see result-instances.ts) with its grid values, status
 * and metrics, read either from the cache for the current plan or from past run records.
 */
import type {Manifest} from '../cache/manifest.js';
import type {JsonValue} from '../nodes/api.js';
import type {Plan} from './plan.js';
import {resultInstances} from './result-instances.js';
import type {ResultInstance} from './result-instances.js';
import type {RunSummary} from './run-record.js';
import type {Cell, Table} from './table.js';

/** One result row. */
export interface ResultRow {
  /** The run it comes from (rows read from run records only). */
  readonly run?: string;
  readonly id: string;
  readonly node: string;
  readonly type: string;
  readonly grid: Readonly<Record<string, JsonValue>>;
  /** From the cache: `done` or `missing`; from a run record: the recorded `cached`, `ran`, `failed` or `skipped`. */
  readonly status: string;
  /** Metric values; for a folded row of repeats (fold-repeats.ts), the means over its instances. */
  readonly metrics: Readonly<Record<string, number>>;
  /** Folded rows only: how many instances the means are over (those with metrics). */
  readonly n?: number;
  /** Folded rows only: each metric's standard deviation over the instances. */
  readonly std?: Readonly<Record<string, number>>;
  /** Folded rows only: the ids of the folded instances. */
  readonly instances?: readonly string[];
}

/** The current plan's result rows, from the manifests `manifestOf` finds for its keys (undefined: not computed yet). */
export async function currentResults(plan: Plan, manifestOf: (key: string) => Promise<Manifest | undefined>): Promise<ResultRow[]> {
  const rows: ResultRow[] = [];
  for (const instance of resultInstances(plan)) {
    const node = plan.nodes.get(instance.id);
    if (node === undefined) continue;
    const manifest = await manifestOf(node.key);
    rows.push({...instance, status: manifest !== undefined ? 'done' : 'missing', metrics: manifest?.metrics ?? {}});
  }
  return rows;
}

/**
 * A run record's result rows. Records written before run records listed their result instances fall back to every
 * instance that recorded a metric.
 */
export function recordedResults(run: RunSummary): ResultRow[] {
  const byId = new Map(run.nodes.map((n) => [n.id, n]));
  const instances: readonly ResultInstance[] =
    run.results ??
    run.nodes
      .filter((n) => Object.keys(n.metrics).length > 0)
      .map((n) => ({id: n.id, node: n.id.replace(/[[{].*$/, ''), type: n.type, grid: {}}));
  return instances.map((instance) => {
    const node = byId.get(instance.id);
    return {run: run.runId, ...instance, status: node?.status ?? 'not run', metrics: node?.metrics ?? {}};
  });
}

function gridCell(value: JsonValue | undefined): Cell {
  if (value === undefined) return undefined;
  return typeof value === 'number' || typeof value === 'string' ? value : JSON.stringify(value);
}

/** The column of a metric's standard deviation over repeats, e.g. `std(accuracy)`. */
export function stdColumn(metric: string): string {
  return `std(${metric})`;
}

/**
 * The rows as a table: `run` (when any row has one), `instance`, one column per grid variable, `status`, `n` (when a
 * row folds repeats), then one column per metric name (sorted), each followed by its `std(...)` column when a folded
 * row has one; empty where an instance has no such metric. Returns the row each table row came from, so
 * `--format json` can print the filtered, sorted rows in full.
 */
export function resultTable(rows: readonly ResultRow[]): {table: Table; source: Map<Readonly<Record<string, Cell>>, ResultRow>} {
  const withRun = rows.some((r) => r.run !== undefined);
  const withN = rows.some((r) => r.n !== undefined);
  const gridCols = [...new Set(rows.flatMap((r) => Object.keys(r.grid)))].sort();
  const metricNames = [...new Set(rows.flatMap((r) => Object.keys(r.metrics)))].sort();
  const spread = new Set(rows.flatMap((r) => Object.keys(r.std ?? {})));
  const fixed = new Set(['run', 'instance', 'status', ...(withN ? ['n'] : []), ...gridCols]);
  // A metric named like a fixed column or a grid variable keeps its own column.
  const metricCols = metricNames.map((m) => (fixed.has(m) ? `metric:${m}` : m));
  const columns = [
    ...(withRun ? ['run'] : []),
    'instance',
    ...gridCols,
    'status',
    ...(withN ? ['n'] : []),
    ...metricNames.flatMap((m, i) => [metricCols[i] ?? m, ...(spread.has(m) ? [stdColumn(metricCols[i] ?? m)] : [])]),
  ];
  const source = new Map<Readonly<Record<string, Cell>>, ResultRow>();
  const tableRows = rows.map((r) => {
    const cells: Record<string, Cell> = {run: r.run, instance: r.id, status: r.status, n: r.n};
    for (const c of gridCols) cells[c] = gridCell(r.grid[c]);
    metricNames.forEach((m, i) => {
      const column = metricCols[i] ?? m;
      cells[column] = r.metrics[m];
      if (spread.has(m)) cells[stdColumn(column)] = r.std?.[m];
    });
    source.set(cells, r);
    return cells;
  });
  return {table: {columns, rows: tableRows}, source};
}
