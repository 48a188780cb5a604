/**
 * Assembles the immutable Plan from expanded instances: the instance graph's deterministic topological order (nodes
 * taken in sorted order), each instance's dependents, and the grid variants with their instances and terminal
 * instances.
 */
import type {JsonObject, JsonValue} from '../nodes/api.js';
import {canonicalJson} from './canonical-json.js';
import type {PipelineSpec} from './pipeline-spec.js';
import type {Plan, PlannedNode, Variant} from './plan.js';
import {assignments} from './expand.js';

function valueKey(value: JsonValue | undefined): string {
  const json = canonicalJson(value ?? null);
  return json.ok ? json.value : '';
}

/**
 * The variants: one per combination of the grid variables some node uses (an unused variable would only repeat
 * identical variants). Each instance is listed in every variant that agrees with its own grid values; the work is
 * proportional to the output, never instances x variants.
 */
function buildVariants(spec: PipelineSpec, instances: readonly PlannedNode[], order: readonly string[], dependents: ReadonlyMap<string, readonly string[]>): Variant[] {
  const used = [...new Set(instances.flatMap((n) => Object.keys(n.grid)))].sort();
  const combos = assignments(used, spec.grid);
  const position = new Map<string, Map<string, number>>();
  const stride = new Map<string, number>();
  let size = 1;
  for (const v of [...used].reverse()) {
    const values = spec.grid.get(v) ?? [];
    position.set(v, new Map(values.map((value, i) => [valueKey(value), i])));
    stride.set(v, size);
    size *= values.length;
  }
  const members: string[][] = combos.map(() => []);
  const byId = new Map(instances.map((n) => [n.id, n]));
  for (const id of order) {
    const node = byId.get(id);
    if (node === undefined) continue;
    let base = 0;
    for (const [v, value] of Object.entries(node.grid)) base += (position.get(v)?.get(valueKey(value)) ?? 0) * (stride.get(v) ?? 0);
    const free = used.filter((v) => !(v in node.grid));
    // Walk every assignment of the free variables as a mixed-radix counter.
    const digits = free.map(() => 0);
    for (;;) {
      let index = base;
      free.forEach((v, i) => (index += (digits[i] ?? 0) * (stride.get(v) ?? 0)));
      members[index]?.push(id);
      let i = free.length - 1;
      while (i >= 0) {
        const radix = spec.grid.get(free[i] ?? '')?.length ?? 1;
        digits[i] = (digits[i] ?? 0) + 1;
        if ((digits[i] ?? 0) < radix) break;
        digits[i] = 0;
        i--;
      }
      if (i < 0) break;
    }
  }
  const specific = new Set(instances.filter((n) => Object.keys(n.grid).length > 0).map((n) => n.id));
  const gridSpecific = (id: string): boolean => specific.has(id);
  return combos.map((grid, i) => {
    const nodes = members[i] ?? [];
    if (used.length === 0) return {grid, nodes, terminals: nodes.filter((id) => (dependents.get(id)?.length ?? 0) === 0)};
    // With a grid, a variant's results are those of its own (grid-specific) instances that feed no other instance of the
    // variant; shared nodes downstream of it (a report gathering `eval[*]`) belong to every variant and say nothing about one.
    const mine = new Set(nodes.filter(gridSpecific));
    return {grid, nodes, terminals: [...mine].filter((id) => !(dependents.get(id) ?? []).some((d) => mine.has(d)))};
  });
}

/**
 * The topological order and the dependents of `sorted` (instances sorted by id), as graphology-dag's Kahn sort
 * gives them on a graph with the instances inserted in that order: a first-in-first-out queue seeded with the
 * instances without inputs, each instance's dependents visited in id order. Done on plain maps because the instance
 * graph of a big grid is tens of thousands of nodes, and it cannot have a cycle (its nodes follow the names of an
 * acyclic pipeline, checked with graphology in check-connections.ts).
 */
function instanceOrder(sorted: readonly PlannedNode[]): {order: string[]; dependents: Map<string, string[]>} {
  // By position in `sorted`: one map lookup per edge, then plain arrays.
  const position = new Map<string, number>();
  sorted.forEach((node, i) => position.set(node.id, i));
  const out: number[][] = sorted.map(() => []);
  const waiting = new Int32Array(sorted.length);
  sorted.forEach((node, i) => {
    const upstream = new Set<number>();
    for (const input of node.inputs) for (const from of input.from) upstream.add(position.get(from) ?? -1);
    upstream.delete(-1);
    for (const from of upstream) out[from]?.push(i);
    waiting[i] = upstream.size;
  });
  const queue: number[] = [];
  for (let i = 0; i < sorted.length; i++) if (waiting[i] === 0) queue.push(i);
  for (let next = 0; next < queue.length; next++) {
    for (const dependent of out[queue[next] ?? 0] ?? []) {
      const left = (waiting[dependent] ?? 0) - 1;
      waiting[dependent] = left;
      if (left === 0) queue.push(dependent);
    }
  }
  if (queue.length !== sorted.length) throw new Error('Internal error: the instance graph has a cycle');
  const idOf = (i: number): string => sorted[i]?.id ?? '';
  const order = queue.map(idOf);
  const dependents = new Map<string, string[]>();
  for (const i of queue) dependents.set(idOf(i), (out[i] ?? []).map(idOf));
  return {order, dependents};
}

/** Builds the plan of `instances` (already validated: every input names an existing instance). */
export function buildPlan(spec: PipelineSpec, file: string, instances: readonly PlannedNode[]): Plan {
  const sorted = [...instances].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const {order, dependents} = instanceOrder(sorted);
  const nodes = new Map(sorted.map((n) => [n.id, n]));
  return {
    name: spec.name,
    file,
    nodes,
    order,
    dependents,
    variants: buildVariants(spec, instances, order, dependents),
    params: Object.fromEntries(spec.params) as JsonObject,
    grid: Object.fromEntries(spec.grid),
    ...(spec.gpus === undefined ? {} : {gpus: spec.gpus}),
  };
}
