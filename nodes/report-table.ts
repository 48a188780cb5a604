/**
 * The rows of the report: one per evaluation gathered from the grid, labelled by its grid values and by what the
 * evaluated students were trained on (from the provenance the artifacts carry), with the comparisons the paper makes:
 * against the random real subset of the same size, and (for alpha > 0) against plain MTT (alpha = 0) at the same size.
 */
import type {JsonValue, UpstreamInfo} from './api.js';

/** The part of an `evaluate` output the report reads. */
export interface EvalSummary {
  readonly accuracy: number;
  readonly accuracy_std: number;
  readonly accuracies?: readonly number[];
  readonly model?: string;
  readonly provenance?: Readonly<Record<string, unknown>>;
}

/** What kind of training set a row's students had. */
export type RowKind = 'distilled' | 'random' | 'real' | 'teacher' | 'other';

/** One row of the results table. */
export interface ReportRow {
  readonly id: string;
  readonly grid: Readonly<Record<string, JsonValue>>;
  readonly kind: RowKind;
  /** A short description, e.g. `distilled, alpha 0.3, T 1, 10/class`. */
  readonly what: string;
  readonly ipc: number | undefined;
  /** alpha of the distillation (distilled rows). */
  readonly distillAlpha: number | undefined;
  readonly accuracy: number;
  readonly std: number;
  readonly seeds: number;
  /**
   * Mean accuracy over the random subsets with the same images per class (each a different draw), when there are
   * any. One draw is a noisy baseline: two draws of 10 Fashion-MNIST images per class differed by 4.4 points.
   */
  readonly random: number | undefined;
  /** How many random subsets (draws) `random` averages. */
  readonly randomDraws: number;
  /** For alpha > 0: accuracy minus that of plain MTT (alpha = 0) at the same ipc, when there is one. */
  readonly kdGain: number | undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function record(v: unknown): Readonly<Record<string, unknown>> {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
}

function classify(e: EvalSummary): {kind: RowKind; what: string; ipc: number | undefined; alpha: number | undefined} {
  const prov = record(e.provenance);
  if (prov['source'] === 'teacher') return {kind: 'teacher', what: `teacher ${String(prov['arch'] ?? e.model ?? '')}`.trim(), ipc: undefined, alpha: undefined};
  const on = record(prov['trainedOn']);
  const studentAlpha = num(prov['alpha']) ?? 0;
  const kd = studentAlpha > 0 ? `, student KD alpha ${studentAlpha} T ${String(prov['T'])}` : '';
  const ipc = num(on['ipc']);
  switch (on['source']) {
    case 'distilled': {
      const alpha = num(on['alpha']) ?? 0;
      const method = alpha > 0 ? `MTT+KD alpha ${alpha}, T ${String(on['T'])}` : 'plain MTT (alpha 0)';
      return {kind: 'distilled', what: `distilled ${ipc ?? '?'}/class, ${method}${kd}`, ipc, alpha};
    }
    case 'random':
      return {kind: 'random', what: `random real ${ipc ?? '?'}/class${kd}`, ipc, alpha: undefined};
    case 'real':
      return {kind: 'real', what: `full real data (${String(on['images'] ?? '?')} images)${kd}`, ipc: undefined, alpha: undefined};
    default:
      return {kind: 'other', what: e.model ?? 'model', ipc, alpha: undefined};
  }
}

/** Builds the rows, in input order, with the comparisons filled in. */
export function buildRows(evals: readonly EvalSummary[], upstream: readonly UpstreamInfo[] | undefined): ReportRow[] {
  const base = evals.map((e, i) => {
    const info = upstream?.[i];
    const c = classify(e);
    return {
      id: info?.id ?? `evals[${i}]`,
      grid: info?.grid ?? {},
      kind: c.kind,
      what: c.what,
      ipc: c.ipc,
      distillAlpha: c.alpha,
      accuracy: e.accuracy,
      std: e.accuracy_std,
      seeds: e.accuracies?.length ?? 1,
    };
  });
  const best = (rows: typeof base): number | undefined =>
    rows.length === 0 ? undefined : Math.max(...rows.map((r) => r.accuracy));
  const mean = (rows: typeof base): number | undefined =>
    rows.length === 0 ? undefined : rows.reduce((sum, r) => sum + r.accuracy, 0) / rows.length;
  return base.map((r) => {
    const draws = r.kind === 'distilled' ? base.filter((o) => o.kind === 'random' && o.ipc === r.ipc) : [];
    const random = mean(draws);
    const plain = r.kind === 'distilled' && (r.distillAlpha ?? 0) > 0
      ? best(base.filter((o) => o.kind === 'distilled' && o.distillAlpha === 0 && o.ipc === r.ipc))
      : undefined;
    return {...r, random, randomDraws: draws.length, kdGain: plain === undefined ? undefined : r.accuracy - plain};
  });
}

/** `12.34`-style fixed formatting, or an empty cell. */
export function fmt(v: number | undefined, digits = 2): string {
  return v === undefined || !Number.isFinite(v) ? '' : v.toFixed(digits);
}

/** A signed difference, e.g. `+3.10`. */
export function signed(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '' : `${v >= 0 ? '+' : ''}${v.toFixed(2)}`;
}

/** The table's columns: the grid variables, then the fixed ones. */
export function tableColumns(rows: readonly ReportRow[]): {gridKeys: string[]; header: string[]} {
  const gridKeys = [...new Set(rows.flatMap((r) => Object.keys(r.grid)))].sort();
  return {
    gridKeys,
    header: ['instance', ...gridKeys, 'trained on', 'accuracy % (mean +- std)', 'seeds', 'random subsets % (mean)', 'vs random', 'KD term helped (vs alpha = 0)'],
  };
}

/** One row's cells, matching {@link tableColumns}. */
export function rowCells(r: ReportRow, gridKeys: readonly string[]): string[] {
  const helped = r.kdGain === undefined ? '' : `${r.kdGain > 0 ? 'yes' : 'no'} (${signed(r.kdGain)})`;
  return [
    r.id,
    ...gridKeys.map((k) => (r.grid[k] === undefined ? '' : typeof r.grid[k] === 'string' ? String(r.grid[k]) : JSON.stringify(r.grid[k]))),
    r.what,
    `${fmt(r.accuracy)} +- ${fmt(r.std)}`,
    String(r.seeds),
    r.random === undefined ? '' : `${fmt(r.random)}${r.randomDraws > 1 ? ` (${r.randomDraws} draws)` : ''}`,
    r.random === undefined ? '' : signed(r.accuracy - r.random),
    helped,
  ];
}
