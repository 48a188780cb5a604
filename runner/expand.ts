/**
 * Grid expansion and keys: every node becomes one instance per repeat index and per combination of the grid
 * variables it (or anything upstream) uses, in topological order so each instance's key can include its inputs'
 * keys. A node that uses no grid variable is one shared instance for all variants. A node that maps over `x[each]`
 * has one instance per instance of `x` (instance k reads instance k), with the seed repeat index k would give it, so
 * an unrepeated node turned into a map keeps its key as instance 0.
 */
import type {JsonObject, JsonValue} from '../nodes/api.js';
import {canonicalJson} from './canonical-json.js';
import type {CheckedInput} from './check-connections.js';
import type {InstanceCount} from './instance-counts.js';
import type {Diagnostic} from './diagnostic.js';
import {errorAt, warningAt} from './diagnostic.js';
import {instanceId} from './instance-id.js';
import {LIMIT_VARIABLES} from './limits.js';
import type {Hasher} from './keys.js';
import {canonicalText, instanceSeed, keyOfTexts} from './keys.js';
import type {PipelineLocator} from './pipeline-document.js';
import type {PipelineSpec} from './pipeline-spec.js';
import type {KeyParts, PlannedInput, PlannedNode} from './plan.js';
import type {RegisteredType} from './registry.js';
import type {GridAssignment, ReferenceResolver} from './resolve-references.js';
import {validateParams} from './validate-params.js';

/** What expansion needs. */
export interface ExpandInput {
  readonly spec: PipelineSpec;
  /** Node names in topological order. */
  readonly order: readonly string[];
  readonly types: ReadonlyMap<string, RegisteredType>;
  readonly inputs: ReadonlyMap<string, readonly CheckedInput[]>;
  /** Node name -> its instances per grid variant (`repeat:` or the count of what it maps over). */
  readonly counts: ReadonlyMap<string, InstanceCount>;
  readonly resolver: ReferenceResolver;
  readonly locator: PipelineLocator;
  readonly hasher: Hasher;
  readonly environment: Readonly<Record<string, string>>;
  /** The most instances (and grid variants) a plan may have; counted before anything is expanded. */
  readonly maxInstances: number;
}

/** The expanded instances (in creation order: topological by name) and per-name grid variables. */
export interface Expansion {
  readonly instances: PlannedNode[];
  /** Node name -> the grid variables its instances vary over, sorted. */
  readonly gridVars: ReadonlyMap<string, readonly string[]>;
  readonly diagnostics: Diagnostic[];
}

/** Every assignment of `vars` (sorted) to their grid values; one empty assignment when there are none. */
export function assignments(vars: readonly string[], grid: ReadonlyMap<string, readonly JsonValue[]>): GridAssignment[] {
  let result: Record<string, JsonValue>[] = [{}];
  for (const v of vars) {
    const values = grid.get(v) ?? [];
    const next: Record<string, JsonValue>[] = [];
    for (const partial of result) for (const value of values) next.push({...partial, [v]: value});
    result = next;
  }
  return result;
}

function project(grid: GridAssignment, vars: readonly string[]): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const v of vars) out[v] = grid[v] ?? null;
  return out;
}

/** Expands the pipeline into instances with params, seeds, inputs and keys. */
export function expand(input: ExpandInput): Expansion {
  const {spec, resolver, locator, hasher} = input;
  const diagnostics: Diagnostic[] = [];
  const instances: PlannedNode[] = [];
  const keys = new Map<string, string>();
  const gridVars = new Map<string, readonly string[]>();
  let anyBroken = false;
  let planned = 0;
  const file = locator.source.display;
  const countOf = (name: string): number => input.counts.get(name)?.count ?? spec.nodes.get(name)?.repeat ?? 1;
  const environmentText = canonicalText(input.environment);
  for (const name of input.order) {
    const node = spec.nodes.get(name);
    const registered = input.types.get(name);
    const checked = input.inputs.get(name);
    if (node === undefined) continue;
    // The grid variables of a node: those its own values use, plus those of everything upstream.
    const {grid: vars, broken} = resolver.gridOfValue(node.with, ['nodes', name, 'with']);
    if (broken) anyBroken = true;
    // A `name[*]` connection gathers every instance of `name`, across its repeats and across the grid variables this
    // node does not use itself, so those variables are not inherited (a report over `eval[*]` is one instance).
    for (const i of checked ?? []) {
      for (const c of i.connections) {
        if (c.index === '*') continue;
        for (const v of gridVars.get(c.upstream) ?? []) vars.add(v);
      }
    }
    const sortedVars = [...vars].sort();
    gridVars.set(name, sortedVars);
    if (registered === undefined || broken) continue;
    // Counted before expanding, so a grid of a million combinations or `repeat: 10000000` costs nothing.
    const variants = sortedVars.reduce((n, v) => n * (spec.grid.get(v)?.length ?? 1), 1);
    planned += variants * node.repeat;
    if (planned > input.maxInstances) {
      const byRepeat = node.repeat > input.maxInstances;
      diagnostics.push(
        errorAt(
          'too-many-instances',
          byRepeat ? locator.value(['nodes', name, 'repeat']) : locator.key(['nodes', name]),
          `node "${name}" makes ${variants * node.repeat} instances (${node.repeat} repeat${node.repeat === 1 ? '' : 's'} x ${variants} grid variant${variants === 1 ? '' : 's'}${sortedVars.length > 0 ? ` over ${sortedVars.join(', ')}` : ''}), and the plan would have ${planned}, more than the limit of ${input.maxInstances}`,
          `use a smaller grid or repeat; if you mean it, raise the limit with ${LIMIT_VARIABLES.instances}`,
        ),
      );
      return {instances, gridVars, diagnostics};
    }
    const definition = registered.definition;
    const outputs = Object.fromEntries(Object.entries(definition.outputs).map(([port, o]) => [port, o.kind]));
    const keyLocation = locator.key(['nodes', name]);
    const location = {file, line: keyLocation.line, col: keyLocation.col};
    // Seeds depend on the name and the repeat index only: the same for every grid variant.
    const count = countOf(name);
    const seeds = Array.from({length: count}, (_, index) => instanceSeed(hasher, name, index, node.seed));
    for (const grid of assignments(sortedVars, spec.grid)) {
      const resolved = resolver.resolve(node.with, grid);
      const json = canonicalJson(resolved);
      if (!json.ok) {
        diagnostics.push(
          errorAt('not-json', locator.value(['nodes', name, 'with', ...json.error.path]),
            json.error.reason === 'not-finite' ? 'NaN and infinities cannot be params (they have no JSON form)' : 'this value cannot be a param'),
        );
        continue;
      }
      const params = validateParams(name, definition, node.with, resolved, locator);
      if (!params.ok) {
        diagnostics.push(...params.error);
        continue;
      }
      // Miswired nodes (already reported) still get their params checked, so all problems show at once.
      if (checked === undefined) continue;
      const paramsText = canonicalText(params.value);
      for (let index = 0; index < count; index++) {
        const id = instanceId(name, count > 1 ? index : undefined, grid);
        const seed = seeds[index] ?? 0;
        const plannedInputs: PlannedInput[] = [];
        const inputKeys: Record<string, string[]> = {};
        for (const port of checked) {
          const from: string[] = [];
          const fromPort: string[] = [];
          for (const c of port.connections) {
            const upCount = countOf(c.upstream);
            const upVars = gridVars.get(c.upstream) ?? [];
            const repeated = upCount > 1;
            if (c.index !== '*') {
              // A map reads the upstream instance with its own index (the counts are equal: check-connections.ts).
              const upIndex = c.index === 'each' ? index : c.index;
              from.push(instanceId(c.upstream, repeated ? upIndex : undefined, project(grid, upVars)));
              fromPort.push(c.fromPort);
              continue;
            }
            // Gather: the upstream's values for variables this node shares are fixed; the others run over the grid.
            const shared = project(grid, upVars.filter((v) => sortedVars.includes(v)));
            const free = upVars.filter((v) => !sortedVars.includes(v));
            for (const rest of assignments(free, spec.grid)) {
              const upGrid = project({...shared, ...rest}, upVars);
              for (let i = 0; i < upCount; i++) {
                from.push(instanceId(c.upstream, repeated ? i : undefined, upGrid));
                fromPort.push(c.fromPort);
              }
            }
          }
          plannedInputs.push({port: port.port, from, fromPort, many: port.many});
          // Merkle: the upstream keys, each with the output port read from it (two ports of one entry differ).
          inputKeys[port.port] = from.map((f, i) => `${keys.get(f) ?? '?'}:${fromPort[i] ?? ''}`);
        }
        const keyParts: KeyParts = {
          type: definition.type,
          implementation: registered.implementation,
          params: params.value,
          seed,
          inputs: inputKeys,
          environment: input.environment,
        };
        const key = keyOfTexts(hasher, {
          environment: environmentText,
          implementation: keyParts.implementation,
          inputs: canonicalText(inputKeys),
          params: paramsText,
          seed,
          type: keyParts.type,
        });
        keys.set(id, key);
        instances.push({
          id,
          name,
          type: definition.type,
          module: registered.module,
          params: params.value as JsonObject,
          seed,
          grid,
          inputs: plannedInputs,
          outputs,
          resources: definition.resources ?? {},
          ...(node.timeoutMs === undefined ? {} : {timeoutMs: node.timeoutMs}),
          key,
          keyParts,
          location,
        });
      }
    }
  }
  // Each combination of the variables in use is a variant with its own list of instances.
  const usedVars = [...new Set([...gridVars.values()].flat())].sort();
  const variantCount = usedVars.reduce((n, v) => n * (spec.grid.get(v)?.length ?? 1), 1);
  if (variantCount > input.maxInstances) {
    diagnostics.push(
      errorAt(
        'too-many-instances',
        locator.key(['grid', usedVars[0] ?? '']),
        `the grid has ${variantCount} combinations of ${usedVars.join(', ')}, more than the limit of ${input.maxInstances}`,
        `use fewer grid values; if you mean it, raise the limit with ${LIMIT_VARIABLES.instances}`,
      ),
    );
    return {instances, gridVars, diagnostics};
  }
  // A variable no node uses expands nothing: the ablation the user asked for would silently not happen. (Not reported
  // next to a broken reference, which is most likely the misspelt use, already reported with a did-you-mean.)
  const used = new Set([...gridVars.values()].flat());
  for (const variable of anyBroken ? [] : spec.grid.keys()) {
    if (used.has(variable)) continue;
    diagnostics.push(
      warningAt(
        'unused-grid-variable',
        locator.key(['grid', variable]),
        `grid variable '${variable}' is used by no node, so it expands nothing`,
        `refer to it as "\${grid.${variable}}" in a node's with: (or in a param a node uses), or remove it`,
      ),
    );
  }
  return {instances, gridVars, diagnostics};
}
