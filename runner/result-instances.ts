/**
 * Which instances of a plan carry its results: the ones `distillery results` shows a row for and a run record lists.
 *
 * A result is what an experiment is judged by, so it is every instance whose output nothing else computes with: the
 * terminal instances, and the instances that feed only presentation (Report-kind nodes such as `report`). In the
 * quickstart that is every grid variant's evaluation and the baselines' evaluations (plain MTT, random subset,
 * teacher), which all feed the report, plus the report itself.
 */
import type {JsonValue} from '../nodes/api.js';
import type {Plan, PlannedNode} from './plan.js';

/** The output kind of presentation nodes (published by `run`); an instance whose every output has it only presents. */
export const PRESENTATION_KIND = 'Report';

/** One result instance. */
export interface ResultInstance {
  /** Instance id, e.g. `eval{T=1,alpha=0.3}`. */
  readonly id: string;
  /** Its node's name in the pipeline. */
  readonly node: string;
  readonly type: string;
  /** Its grid values (empty for shared instances such as baselines). */
  readonly grid: Readonly<Record<string, JsonValue>>;
}

function presents(node: PlannedNode | undefined): boolean {
  const kinds = Object.values(node?.outputs ?? {});
  return kinds.length > 0 && kinds.every((k) => k === PRESENTATION_KIND);
}

/** The result instances of `plan`, in plan order. */
export function resultInstances(plan: Plan): ResultInstance[] {
  const out: ResultInstance[] = [];
  for (const id of plan.order) {
    const node = plan.nodes.get(id);
    if (node === undefined) continue;
    const downstream = plan.dependents.get(id) ?? [];
    if (downstream.every((d) => presents(plan.nodes.get(d)))) {
      out.push({id, node: node.name, type: node.type, grid: node.grid});
    }
  }
  return out;
}
