/**
 * Folds the result rows of a repeated node's instances into one row per node, grid variant and run: `evalRandom[0]`,
 * `evalRandom[1]`, `evalRandom[2]` become `evalRandom[*]`, whose metrics are the means over the instances, with their
 * standard deviations and the number of instances averaged (n). That is how repeats are read: K random draws (or K
 * seeds of a whole branch, mapped with `x[each]`) are one baseline with a spread, not K unrelated rows.
 *
 * The standard deviation is the population one (divide by n), numpy's default, as `evaluate`'s `accuracy_std`.
 */
import type {ResultRow} from './result-rows.js';

/** Mean and population standard deviation of a non-empty list. */
export function meanAndStd(values: readonly number[]): {mean: number; std: number} {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
  return {mean, std: Math.sqrt(variance)};
}

/** A repeat instance's id: the node name, `[k]`, then the grid part (node names hold no `[` or `{`). */
const REPEAT_ID = /^([A-Za-z][A-Za-z0-9_-]*)\[\d+\](.*)$/s;

/**
 * The id of the group a row belongs to: its id with the repeat index written `[*]` (`student[*]{T=1}`), or undefined
 * for an instance without a repeat index. Read from the id, so run records of every age fold alike.
 */
export function repeatGroupId(id: string): string | undefined {
  const match = REPEAT_ID.exec(id);
  return match === null ? undefined : `${match[1] ?? ''}[*]${match[2] ?? ''}`;
}

function groupKey(row: ResultRow): string {
  const group = repeatGroupId(row.id);
  return group === undefined ? `\0${row.run ?? ''}\0${row.id}` : `${row.run ?? ''}\0${group}`;
}

/** The status of a folded row: the members' status when they agree, else the count of each (`done 2, missing 1`). */
function foldedStatus(members: readonly ResultRow[]): string {
  const counts = new Map<string, number>();
  for (const m of members) counts.set(m.status, (counts.get(m.status) ?? 0) + 1);
  if (counts.size === 1) return members[0]?.status ?? '';
  return [...counts].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([s, c]) => `${s} ${c}`).join(', ');
}

function fold(members: readonly ResultRow[]): ResultRow {
  const first = members[0];
  if (first === undefined) throw new Error('Internal error: an empty group of repeats');
  const computed = members.filter((m) => Object.keys(m.metrics).length > 0);
  const names = [...new Set(computed.flatMap((m) => Object.keys(m.metrics)))].sort();
  const metrics: Record<string, number> = {};
  const std: Record<string, number> = {};
  for (const name of names) {
    const values = computed.flatMap((m) => (m.metrics[name] === undefined ? [] : [m.metrics[name]]));
    const stats = meanAndStd(values);
    metrics[name] = stats.mean;
    std[name] = stats.std;
  }
  // `evalRandom[*]{T=1}`: the instance id with `[*]` for the repeat index, as a gathering reference writes it.
  const id = repeatGroupId(first.id) ?? first.id;
  return {
    ...(first.run === undefined ? {} : {run: first.run}),
    id,
    node: first.node,
    type: first.type,
    grid: first.grid,
    status: foldedStatus(members),
    metrics,
    n: computed.length,
    std,
    instances: members.map((m) => m.id),
  };
}

/**
 * The rows with every group of two or more repeat instances of one node, grid variant and run folded into one (at the
 * place of the group's first row); other rows are kept as they are.
 */
export function foldRepeats(rows: readonly ResultRow[]): ResultRow[] {
  const groups = new Map<string, ResultRow[]>();
  for (const row of rows) {
    const key = groupKey(row);
    const group = groups.get(key);
    if (group === undefined) groups.set(key, [row]);
    else group.push(row);
  }
  const out: ResultRow[] = [];
  for (const row of rows) {
    const group = groups.get(groupKey(row)) ?? [row];
    if (group.length === 1) out.push(row);
    else if (group[0] === row) out.push(fold(group));
  }
  return out;
}
