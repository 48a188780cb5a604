/**
 * How many instances each node has per grid variant: its `repeat:`, or, for a node that maps over `x[each]`, as many
 * as `x` has (transitively, so a node mapped over a mapped node has as many as the node at the head of the chain).
 *
 * Counted by name before the wiring is checked, so that every later step (index ranges, single ports, gathering with
 * `x[*]`, expansion) counts the instances of a node the same way whether they come from `repeat:` or from a map.
 */
import type {PipelineSpec} from './pipeline-spec.js';

/** The instance count of one node. */
export interface InstanceCount {
  readonly count: number;
  /** The upstream whose instances the node maps over (its first `[each]` reference), when it maps. */
  readonly mapsOver: string | undefined;
}

/** The instance count of every node of `spec`. A node on a cycle (reported elsewhere) counts as 1 where it loops. */
export function instanceCounts(spec: PipelineSpec): ReadonlyMap<string, InstanceCount> {
  const counts = new Map<string, InstanceCount>();
  const visiting = new Set<string>();
  const countOf = (name: string): number => {
    const known = counts.get(name);
    if (known !== undefined) return known.count;
    const node = spec.nodes.get(name);
    if (node === undefined || visiting.has(name)) return 1;
    visiting.add(name);
    // Ports are sorted by name (pipeline-spec.ts), so "the first [each] reference" is the same on every run.
    const head = node.inputs.flatMap((i) => i.refs).find((r) => r.index === 'each' && spec.nodes.has(r.node));
    const count = head === undefined ? node.repeat : countOf(head.node);
    visiting.delete(name);
    counts.set(name, {count, mapsOver: head?.node});
    return count;
  };
  for (const name of spec.nodes.keys()) countOf(name);
  return counts;
}
