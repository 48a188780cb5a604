/**
 * What `distillery plan` reports: for each instance, in plan order, whether its key is already cached or it will
 * run, and (with history) why it will run.
 */
import {explainChange} from './explain.js';
import type {Plan} from './plan.js';
import type {RecordedInstance} from './run-history.js';

/** One instance's planned fate. */
export interface InstanceStatus {
  readonly id: string;
  readonly type: string;
  readonly key: string;
  readonly status: 'cached' | 'run';
  /** Why it runs (only when explaining); empty for cached instances. */
  readonly reasons: readonly string[];
}

/**
 * Looks every key up with `isCached` and, when `history` is given, explains each instance that will run.
 * A key that was recorded before but is not cached says so, since nothing in the pipeline changed.
 */
export async function planStatus(
  plan: Plan,
  isCached: (key: string) => Promise<boolean>,
  history: ReadonlyMap<string, RecordedInstance> | undefined,
): Promise<InstanceStatus[]> {
  const out: InstanceStatus[] = [];
  for (const id of plan.order) {
    const node = plan.nodes.get(id);
    if (node === undefined) continue;
    const cached = await isCached(node.key);
    let reasons: string[] = [];
    if (!cached && history !== undefined) {
      const previous = history.get(id);
      reasons = explainChange(node, previous);
      if (reasons.length === 0) {
        reasons = [previous?.status === 'failed' ? 'it failed last time' : 'its cache entry is missing (removed, or never committed)'];
      }
    }
    out.push({id, type: node.type, key: node.key, status: cached ? 'cached' : 'run', reasons});
  }
  return out;
}

/** Human-readable plan: a header with counts, then one line per instance (with reasons when explaining). */
export function renderPlanStatus(plan: Plan, statuses: readonly InstanceStatus[], explain: boolean): string {
  const cached = statuses.filter((s) => s.status === 'cached').length;
  const lines = [`${plan.name}: ${statuses.length} instance${statuses.length === 1 ? '' : 's'}, ${cached} cached, ${statuses.length - cached} to run`];
  const width = Math.min(48, Math.max(0, ...statuses.map((s) => s.id.length)));
  for (const s of statuses) {
    const head = `  ${s.status.padEnd(6)} ${s.id.padEnd(width)}  ${s.type}`;
    lines.push(explain && s.reasons.length > 0 ? `${head}: ${s.reasons.join('; ')}` : head);
  }
  return lines.join('\n') + '\n';
}
