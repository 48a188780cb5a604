/**
 * What `distillery plan` reports: for each instance, in plan order, whether its key is already cached (locally, or
 * on the remote) or it will run, and with history why it will run, or when and where a cached entry was produced.
 */
import type {Manifest} from '../cache/manifest.js';
import {explainChange} from './explain.js';
import type {Plan} from './plan.js';
import type {RecordedInstance} from './run-history.js';

/** Where a key's entry was found. */
export type Located = {readonly where: 'local' | 'remote'; readonly manifest: Manifest} | {readonly where: 'none'};

/** When and where a cached entry was computed (from its manifest, and the run record that ran it when there is one). */
export interface Provenance {
  readonly host: string;
  readonly startedAt: string;
  readonly seconds: number;
  readonly runId?: string;
}

/** One instance's planned fate. */
export interface InstanceStatus {
  readonly id: string;
  readonly type: string;
  readonly key: string;
  /** `cached`: in the local cache; `remote`: only on the remote (fetched instead of computed); `run`: computed. */
  readonly status: 'cached' | 'remote' | 'run';
  /** Why it runs (only when explaining); empty for cached instances. */
  readonly reasons: readonly string[];
  /** For cached instances: who produced the entry. */
  readonly produced?: Provenance;
}

/**
 * Looks every key up with `locate` and, when `history` is given, explains each instance that will run;
 * `producedBy` names the run that computed a key (see run-history.ts).
 * A key that was recorded before but is not cached says so, since nothing in the pipeline changed.
 */
export async function planStatus(
  plan: Plan,
  locate: (key: string) => Promise<Located>,
  history: ReadonlyMap<string, RecordedInstance> | undefined,
  producedBy: ReadonlyMap<string, string> = new Map(),
): Promise<InstanceStatus[]> {
  const out: InstanceStatus[] = [];
  for (const id of plan.order) {
    const node = plan.nodes.get(id);
    if (node === undefined) continue;
    const found = await locate(node.key);
    let reasons: string[] = [];
    const previous = history?.get(id);
    if (found.where === 'none' && history !== undefined) {
      reasons = explainChange(node, previous);
      if (reasons.length === 0) {
        reasons = [previous?.status === 'failed' ? 'it failed last time' : 'its cache entry is missing (removed, or never committed)'];
      }
    }
    const status = found.where === 'none' ? 'run' : found.where === 'local' ? 'cached' : 'remote';
    const produced: Provenance | undefined =
      found.where === 'none'
        ? undefined
        : {
            host: found.manifest.producer.host,
            startedAt: found.manifest.timings.startedAt,
            seconds: found.manifest.timings.seconds,
            ...(producedBy.has(node.key) ? {runId: producedBy.get(node.key) ?? ''} : {}),
          };
    out.push({id, type: node.type, key: node.key, status, reasons, ...(produced === undefined ? {} : {produced})});
  }
  return out;
}

function describeProvenance(p: Provenance): string {
  const when = p.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
  const took = p.seconds < 10 ? p.seconds.toFixed(2) : p.seconds.toFixed(1);
  return `produced on ${p.host} at ${when} in ${took} s${p.runId === undefined ? '' : ` (run ${p.runId})`}`;
}

/**
 * Human-readable plan: a header with counts, then one line per instance (with reasons, or provenance, when
 * explaining). `remote` names the remote that was asked, if any.
 */
export function renderPlanStatus(plan: Plan, statuses: readonly InstanceStatus[], explain: boolean, remote?: string): string {
  const count = (s: InstanceStatus['status']): number => statuses.filter((x) => x.status === s).length;
  const [cached, onRemote, toRun] = [count('cached'), count('remote'), count('run')];
  const header =
    `${plan.name}: ${statuses.length} instance${statuses.length === 1 ? '' : 's'}, ${cached} cached, ` +
    (remote === undefined ? '' : `${onRemote} on the remote ${remote}, `) +
    `${toRun} to run`;
  const lines = [header];
  const width = Math.min(48, Math.max(0, ...statuses.map((s) => s.id.length)));
  for (const s of statuses) {
    const head = `  ${s.status.padEnd(6)} ${s.id.padEnd(width)}  ${s.type}`;
    if (!explain) lines.push(head);
    else if (s.reasons.length > 0) lines.push(`${head}: ${s.reasons.join('; ')}`);
    else if (s.produced !== undefined) lines.push(`${head}: ${s.status === 'remote' ? `on the remote ${remote ?? ''}, ` : ''}${describeProvenance(s.produced)}`);
    else lines.push(head);
  }
  if (onRemote > 0) {
    lines.push(
      toRun === 0 && cached === 0
        ? `all ${onRemote} instances are cached on the remote ${remote ?? ''}: \`distillery pull\` or \`distillery run\` fetches them, nothing is computed`
        : `${onRemote} instance${onRemote === 1 ? ' is' : 's are'} cached on the remote ${remote ?? ''}: \`distillery pull\` or \`distillery run\` fetches ${onRemote === 1 ? 'it' : 'them'} instead of computing`,
    );
  }
  return lines.join('\n') + '\n';
}
