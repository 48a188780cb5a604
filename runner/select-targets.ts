/**
 * `run FILE TARGET...`: the part of a plan that the named targets need, as `snakemake target` and `dvc repro stage`
 * do. A target is an instance id (`eval{T=1,alpha=0.3}`) or a node name (all of its instances); the selection is the
 * targets and everything upstream of them.
 */
import {didYouMeanHint} from './did-you-mean.js';
import type {Plan} from './plan.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/** The sub-plan for `targets`, or one message per target that names nothing. */
export function selectTargets(plan: Plan, targets: readonly string[]): Result<Plan, string[]> {
  const byName = new Map<string, string[]>();
  for (const node of plan.nodes.values()) byName.set(node.name, [...(byName.get(node.name) ?? []), node.id]);
  const problems: string[] = [];
  const wanted: string[] = [];
  for (const target of targets) {
    const ids = plan.nodes.has(target) ? [target] : byName.get(target);
    if (ids === undefined) {
      const hint = didYouMeanHint(target, [...byName.keys(), ...plan.nodes.keys()]);
      problems.push(`no node or instance '${target}' in ${plan.name}${hint === undefined ? '' : `; ${hint}`}`);
      continue;
    }
    wanted.push(...ids);
  }
  if (problems.length > 0) return fail(problems);
  const keep = new Set<string>();
  const stack = [...wanted];
  for (let id = stack.pop(); id !== undefined; id = stack.pop()) {
    if (keep.has(id)) continue;
    keep.add(id);
    for (const input of plan.nodes.get(id)?.inputs ?? []) stack.push(...input.from);
  }
  const nodes = new Map([...plan.nodes].filter(([id]) => keep.has(id)));
  const dependents = new Map([...plan.dependents].filter(([id]) => keep.has(id)).map(([id, ds]) => [id, ds.filter((d) => keep.has(d))]));
  const variants = plan.variants
    .map((v) => ({...v, nodes: v.nodes.filter((id) => keep.has(id)), terminals: v.terminals.filter((id) => keep.has(id))}))
    .filter((v) => v.nodes.length > 0);
  return ok({...plan, nodes, order: plan.order.filter((id) => keep.has(id)), dependents, variants});
}
