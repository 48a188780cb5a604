/**
 * A Plan as stored JSON (see stored-analysis.ts), small enough that reading it back is cheap: what every instance of
 * a node shares (type, module, ports, resources, timeout, location, implementation hash) is stored once per node,
 * and what follows from the rest is computed again (the key parts, the dependents). `toStored` checks that reading
 * its result back gives the same plan, so a plan it cannot represent is never stored.
 */
import type {Resources} from '../nodes/api.js';
import type {Plan, PlannedNode, SourceLocation} from './plan.js';

/** What every instance of one node (a name in `nodes:`) shares. */
interface StoredNodeShared {
  readonly type: string;
  readonly module: string;
  readonly outputs: Readonly<Record<string, string>>;
  readonly resources: Resources;
  readonly timeoutMs?: number;
  readonly location: SourceLocation;
  readonly implementation: string;
}

/** One instance: what is its own. */
type StoredInstance = Pick<PlannedNode, 'id' | 'name' | 'params' | 'seed' | 'grid' | 'inputs' | 'key'>;

/** The stored form of a Plan. */
export interface StoredPlan extends Omit<Plan, 'nodes' | 'dependents'> {
  readonly shared: Readonly<Record<string, StoredNodeShared>>;
  readonly instances: readonly StoredInstance[];
  /** The declared environment in every key. */
  readonly environment: Readonly<Record<string, string>>;
}

/** The stored form of `plan`, or undefined when reading it back would not give the same plan. */
export function toStored(plan: Plan, environment: Readonly<Record<string, string>>): StoredPlan | undefined {
  const shared: Record<string, StoredNodeShared> = {};
  const instances: StoredInstance[] = [];
  for (const node of plan.nodes.values()) {
    shared[node.name] ??= {
      type: node.type,
      module: node.module,
      outputs: node.outputs,
      resources: node.resources,
      ...(node.timeoutMs === undefined ? {} : {timeoutMs: node.timeoutMs}),
      location: node.location,
      implementation: node.keyParts.implementation,
    };
    instances.push({id: node.id, name: node.name, params: node.params, seed: node.seed, grid: node.grid, inputs: node.inputs, key: node.key});
  }
  const {nodes: _nodes, dependents: _dependents, ...rest} = plan;
  const stored: StoredPlan = {...rest, shared, instances, environment};
  // The same plan must come back, or it is not stored at all.
  const back = fromStored(stored);
  return back !== undefined && sameMap(back.nodes, plan.nodes) && sameMap(back.dependents, plan.dependents) ? stored : undefined;
}

/**
 * Deep equality that is quick where the two sides share objects: read back in memory, the parts of a plan stored as
 * they are come back as the same objects, so only what is computed again is walked (a big grid has tens of thousands
 * of nodes to compare).
 */
function same(a: unknown, b: unknown): boolean {
  if (a === b || typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) return Object.is(a, b);
  // A plan holds plain data only (what YAML and JSON give): arrays and plain objects, compared by hand because
  // isDeepStrictEqual's generality made this check a third of storing a 10,000-instance plan.
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) return false;
  if (Array.isArray(a)) {
    const other = b as unknown[];
    return a.length === other.length && a.every((value, i) => same(value, other[i]));
  }
  const keys = Object.keys(a);
  const x = a as Record<string, unknown>;
  const y = b as Record<string, unknown>;
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(y, k) && same(x[k], y[k]));
}

/** Two maps with the same keys in the same order and `same` values. */
function sameMap(a: ReadonlyMap<string, unknown>, b: ReadonlyMap<string, unknown>): boolean {
  if (a.size !== b.size) return false;
  const other = b.entries();
  for (const [key, value] of a) {
    const next = other.next();
    if (next.done === true || next.value[0] !== key || !same(value, next.value[1])) return false;
  }
  return true;
}

/** The plan a stored form describes, or undefined when it is malformed. */
export function fromStored(stored: StoredPlan): Plan | undefined {
  if (!isStoredPlan(stored)) return undefined;
  const {shared, instances, environment, ...rest} = stored;
  const nodes = new Map<string, PlannedNode>();
  const dependents = new Map<string, string[]>(rest.order.map((id) => [id, []]));
  const keys = new Map(instances.map((instance) => [instance.id, instance.key]));
  for (const instance of instances) {
    const common = shared[instance.name];
    if (common === undefined) return undefined;
    const inputs: Record<string, string[]> = {};
    for (const input of instance.inputs) {
      // As expand.ts keys them: each upstream key with the port read from it.
      inputs[input.port] = input.from.map((from, i) => `${keys.get(from) ?? '?'}:${input.fromPort[i] ?? ''}`);
    }
    // An upstream instance read by several ports (a report's sets and curves) has this one as a dependent once.
    for (const input of instance.inputs) {
      for (const from of input.from) {
        const list = dependents.get(from);
        if (list !== undefined && list[list.length - 1] !== instance.id) list.push(instance.id);
      }
    }
    nodes.set(instance.id, {
      id: instance.id,
      name: instance.name,
      type: common.type,
      module: common.module,
      params: instance.params,
      seed: instance.seed,
      grid: instance.grid,
      inputs: instance.inputs,
      outputs: common.outputs,
      resources: common.resources,
      ...(common.timeoutMs === undefined ? {} : {timeoutMs: common.timeoutMs}),
      key: instance.key as PlannedNode['key'],
      keyParts: {
        type: common.type,
        implementation: common.implementation,
        params: instance.params,
        seed: instance.seed,
        inputs,
        environment,
      },
      location: common.location,
    });
  }
  for (const list of dependents.values()) list.sort();
  return {...rest, nodes, dependents};
}

function isStoredPlan(value: unknown): value is StoredPlan {
  const p = value as Partial<StoredPlan> | null;
  return p !== null && typeof p === 'object' && typeof p.name === 'string' && typeof p.file === 'string' &&
    typeof p.shared === 'object' && p.shared !== null && Array.isArray(p.instances) && Array.isArray(p.order) &&
    Array.isArray(p.variants) && typeof p.environment === 'object' && p.environment !== null &&
    p.instances.every((i) => typeof i === 'object' && i !== null && typeof i.id === 'string' && Array.isArray(i.inputs));
}
