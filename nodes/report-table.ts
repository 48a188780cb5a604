/**
 * The rows of the report: one per evaluation gathered from the grid, labelled by its grid values and by what the
 * evaluated students were trained on (from the provenance the artifacts carry), with the comparisons the paper makes:
 * against the random real subset of the same size, and (for alpha > 0) against plain MTT (alpha = 0) at the same size.
 *
 * The evaluations of a repeated node's instances (`evalRandom[0]`, `evalRandom[1]`, ... of a node mapped over
 * `random[each]`) are one row, `evalRandom[*]`: the mean of their accuracies, the standard deviation over them and n.
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
  /** Mean test accuracy over the student seeds; for a row of n > 1 instances, the mean of their means. */
  readonly accuracy: number;
  /** Standard deviation over the student seeds; for a row of n > 1 instances, over their means. */
  readonly std: number;
  /** Student seeds per instance. */
  readonly seeds: number;
  /** Instances the row averages: 1, or the repeats of a repeated node. */
  readonly n: number;
  /** The mean accuracy of each instance the row averages. */
  readonly members: readonly number[];
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

/** A repeat instance's id: node name, `[k]`, then the grid part (node names hold no `[` or `{`). */
const REPEAT_ID = /^([A-Za-z][A-Za-z0-9_-]*)\[\d+\](.*)$/s;

/** Population standard deviation (numpy's default, as `evaluate` reports over seeds). */
function populationStd(values: readonly number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length);
}

type BaseRow = Omit<ReportRow, 'random' | 'randomDraws' | 'kdGain'>;

/** Folds the rows of each repeated node (same node, same grid) into one row at the place of its first instance. */
function foldRepeats(rows: readonly BaseRow[]): BaseRow[] {
  const groupOf = (r: BaseRow): string => {
    const m = REPEAT_ID.exec(r.id);
    return m === null ? `\0${r.id}` : `${m[1] ?? ''}[*]${m[2] ?? ''}`;
  };
  const groups = new Map<string, BaseRow[]>();
  for (const r of rows) {
    const g = groupOf(r);
    const list = groups.get(g);
    if (list === undefined) groups.set(g, [r]);
    else list.push(r);
  }
  return rows.flatMap((r) => {
    const group = groups.get(groupOf(r)) ?? [r];
    if (group.length === 1) return [r];
    if (group[0] !== r) return [];
    const members = group.map((m) => m.accuracy);
    const accuracy = members.reduce((a, b) => a + b, 0) / members.length;
    return [{...r, id: groupOf(r), accuracy, std: populationStd(members), n: members.length, members}];
  });
}

/** Builds the rows, in input order (repeats folded), with the comparisons filled in. */
export function buildRows(evals: readonly EvalSummary[], upstream: readonly UpstreamInfo[] | undefined): ReportRow[] {
  const base = foldRepeats(evals.map((e, i): BaseRow => {
    const info = upstream?.[i];
    const c = classify(e);
    return {
      // Without upstream ids (a report called outside a run) a row is named by its position, in a form that is
      // not an instance id, so that rows are never folded as repeats of one node.
      id: info?.id ?? `evals #${i}`,
      grid: info?.grid ?? {},
      kind: c.kind,
      what: c.what,
      ipc: c.ipc,
      distillAlpha: c.alpha,
      accuracy: e.accuracy,
      std: e.accuracy_std,
      seeds: e.accuracies?.length ?? 1,
      n: 1,
      members: [e.accuracy],
    };
  }));
  const best = (rows: typeof base): number | undefined =>
    rows.length === 0 ? undefined : Math.max(...rows.map((r) => r.accuracy));
  return base.map((r) => {
    // The random baseline is the mean over every draw, whether the draws are separate nodes or one repeated node.
    const draws = r.kind === 'distilled' ? base.filter((o) => o.kind === 'random' && o.ipc === r.ipc).flatMap((o) => o.members) : [];
    const random = draws.length === 0 ? undefined : draws.reduce((a, b) => a + b, 0) / draws.length;
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
    header: ['instance', ...gridKeys, 'trained on', 'accuracy % (mean +- std)', 'seeds', 'n', 'random subsets % (mean)', 'vs random', 'KD term helped (vs alpha = 0)'],
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
    r.n === 1 ? '1' : `${r.n} (${r.members.map((m) => fmt(m)).join(', ')})`,
    r.random === undefined ? '' : `${fmt(r.random)}${r.randomDraws > 1 ? ` (${r.randomDraws} draws)` : ''}`,
    r.random === undefined ? '' : signed(r.accuracy - r.random),
    helped,
  ];
}
