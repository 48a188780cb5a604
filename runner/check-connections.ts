/**
 * Checks the pipeline's wiring at the level of node names (before grid expansion): node types exist, every `in:`
 * reference names an existing node and port, kinds match, `many` ports get lists and single ports single
 * instances (or map over `x[each]`), required inputs are connected, and the graph has no cycle (each cycle is named
 * node by node).
 */
import type {InputPort, NodeDefinition} from '../nodes/api.js';
import type {Diagnostic, SupplementalLocation} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {didYouMean, didYouMeanHint} from './did-you-mean.js';
import type {PipelineLocator} from './pipeline-document.js';
import type {InstanceCount} from './instance-counts.js';
import {instanceCounts} from './instance-counts.js';
import type {InputRef, NodeSpec, PipelineSpec, RefIndex} from './pipeline-spec.js';
import type {NodeTypeRegistry, RegisteredType} from './registry.js';

/** One checked reference: which upstream node, which of its instances, which output port. */
export interface Connection {
  readonly ref: InputRef;
  readonly upstream: string;
  /**
   * `'*'` for all instances, `'each'` for the instance with the consumer's own index (a map), else the instance index
   * (undefined for an upstream with one instance).
   */
  readonly index: RefIndex;
  readonly fromPort: string;
}

/** A checked input port. */
export interface CheckedInput {
  readonly port: string;
  readonly many: boolean;
  readonly connections: readonly Connection[];
}

/** What the wiring check yields. */
export interface CheckedWiring {
  /** Node name -> its registered type (only nodes whose type is known). */
  readonly types: ReadonlyMap<string, RegisteredType>;
  /** Node name -> its checked inputs (only nodes whose whole wiring is valid). */
  readonly inputs: ReadonlyMap<string, readonly CheckedInput[]>;
  /** Node names in a deterministic topological order; nodes on or downstream of a cycle are left out. */
  readonly order: readonly string[];
  /** Node name -> its instances per grid variant (`repeat:`, or the count of what it maps over). */
  readonly counts: ReadonlyMap<string, InstanceCount>;
  readonly diagnostics: readonly Diagnostic[];
}

function describeType(spec: NodeSpec): string {
  return `"${spec.name}" (${spec.type ?? '?'})`;
}

/** Checks one reference against its upstream (with `counted` instances); returns the connection or pushes problems. */
function checkRef(
  spec: NodeSpec,
  port: string,
  inPort: InputPort,
  listed: boolean,
  ref: InputRef,
  upstream: NodeSpec,
  counted: InstanceCount,
  upType: NodeDefinition,
  locator: PipelineLocator,
  out: Diagnostic[],
): Connection | undefined {
  const at = locator.value(ref.path);
  const outputs = Object.keys(upType.outputs).sort();
  const up = upstream.name;
  const {count, mapsOver} = counted;
  const written = ref.text.trim();
  let fromPort = ref.port;
  if (fromPort === undefined) {
    if (outputs.length !== 1) {
      out.push(
        errorAt('ambiguous-port', at, `"${up}" (${upType.type}) has ${outputs.length === 0 ? 'no' : 'several'} outputs; name one`,
          outputs.length === 0 ? undefined : `write one of ${outputs.map((o) => `${ref.text.trim()}.${o}`).join(', ')}`),
      );
      return undefined;
    }
    fromPort = outputs[0] ?? '';
  } else if (upType.outputs[fromPort] === undefined) {
    out.push(
      errorAt('missing-port', at, `"${up}" (${upType.type}) has no output "${fromPort}"`,
        didYouMeanHint(fromPort, outputs) ?? `its outputs: ${outputs.join(', ') || 'none'}`),
    );
    return undefined;
  }
  let ok = true;
  if (typeof ref.index === 'number' && ref.index >= count) {
    out.push(
      errorAt('bad-index', at, `"${up}" has ${count} instance${count === 1 ? '' : 's'}; there is no ${up}[${ref.index}]`,
        count === 1 ? `write ${up}` : `indices run from 0 to ${count - 1}`),
    );
    ok = false;
  }
  if (inPort.many) {
    if (ref.index === 'each') {
      out.push(
        errorAt('port-multiplicity', at, `input "${port}" of ${describeType(spec)} takes a list of instances, but "${written}" maps over them one at a time`,
          `write ${written.replace('[each]', '[*]')} to give it all of them in one list`),
      );
      ok = false;
    } else if (!listed && ref.index !== '*') {
      out.push(
        errorAt('port-multiplicity', at, `input "${port}" of ${describeType(spec)} takes a list of instances, but "${written}" is a single one`,
          `write ${up}[*] for all its instances, or a YAML list of references`),
      );
      ok = false;
    } else if (ref.index === undefined && count > 1) {
      // Each list item names one instance or, with [*], all of them; a bare name of a node with several is neither.
      out.push(
        errorAt('port-multiplicity', at, `"${up}" has ${count} instances; a list item names one of them or all of them`,
          `write ${up}[*] for all of them, or ${up}[0] for one`),
      );
      ok = false;
    }
  } else if (listed || ref.index === '*') {
    out.push(
      errorAt('port-multiplicity', at, `input "${port}" of ${describeType(spec)} takes one instance, but "${written}" gives ${listed ? 'a list' : 'all instances'}`,
        count > 1 ? `pick one, e.g. ${up}[0], or run "${spec.name}" once per instance with ${up}[each]` : `write ${up}`),
    );
    ok = false;
  } else if (ref.index === undefined && count > 1) {
    out.push(
      errorAt('port-multiplicity', at, `input "${port}" of ${describeType(spec)} takes one instance, but "${up}" has ${count} (${mapsOver === undefined ? `repeat: ${count}` : `one per instance of "${mapsOver}"`})`,
        `pick one with ${up}[0], run "${spec.name}" once per instance with ${up}[each], or feed a many port with ${up}[*]`),
    );
    ok = false;
  }
  const kind = upType.outputs[fromPort]?.kind;
  if (kind !== inPort.kind) {
    out.push(
      errorAt('kind-mismatch', at, `input "${port}" of ${describeType(spec)} takes ${inPort.kind}, but ${up}.${fromPort} is ${kind ?? 'untyped'}`),
    );
    ok = false;
  }
  const index = ref.index === '*' || ref.index === 'each' || count > 1 ? ref.index : undefined;
  return ok ? {ref, upstream: up, index, fromPort} : undefined;
}

/**
 * The problems of a node that maps over `x[each]`: it may not also have `repeat:` (its count is that of `x`), and
 * every `[each]` input must have as many instances as the first, since instance k takes instance k of each.
 */
function checkMap(node: NodeSpec, counts: ReadonlyMap<string, InstanceCount>, locator: PipelineLocator, out: Diagnostic[]): boolean {
  const mine = counts.get(node.name);
  const head = mine?.mapsOver;
  if (mine === undefined || head === undefined) return true;
  let ok = true;
  const first = node.inputs.flatMap((i) => i.refs).find((r) => r.index === 'each' && r.node === head);
  if (node.repeatWritten) {
    out.push(
      errorAt('bad-map', locator.value(['nodes', node.name, 'repeat']),
        `"${node.name}" maps over ${first?.text.trim() ?? `${head}[each]`}, so it has one instance per instance of "${head}"; it cannot also have repeat:`,
        `remove repeat: here (set the count on "${head}")`),
    );
    ok = false;
  }
  for (const input of node.inputs) {
    for (const ref of input.refs) {
      if (ref.index !== 'each' || ref === first) continue;
      const count = counts.get(ref.node)?.count;
      if (count === undefined || count === mine.count) continue;
      out.push(
        errorAt('bad-map', locator.value(ref.path),
          `"${ref.node}" has ${count} instance${count === 1 ? '' : 's'} but "${head}" has ${mine.count}; [each] inputs are paired by index, so they need the same count`,
          `pick one instance with ${ref.node}[0], or give both the same number of instances`,
          first === undefined ? [] : [{message: `"${node.name}" maps over "${head}" here`, location: locator.value(first.path)}]),
      );
      ok = false;
    }
  }
  return ok;
}

/** Finds every cycle in the name graph (edges: node -> the nodes it takes input from), each reported once. */
function findCycles(
  spec: PipelineSpec,
  edges: ReadonlyMap<string, readonly {upstream: string; ref: InputRef}[]>,
  locator: PipelineLocator,
): Diagnostic[] {
  const out: Diagnostic[] = [];
  const reported = new Set<string>();
  const state = new Map<string, 'active' | 'done'>();
  const stack: {name: string; via: InputRef | undefined}[] = [];
  const visit = (name: string, via: InputRef | undefined): void => {
    const s = state.get(name);
    if (s === 'done') return;
    if (s === 'active') {
      // The stack from `name` to the top, plus the closing edge, is a cycle of "takes input from" edges.
      const start = stack.findIndex((e) => e.name === name);
      const members = [...stack.slice(start), {name, via}];
      // members[i] takes input from members[i+1] through members[i+1].via; data flows the other way.
      const flow = members.map((m) => m.name).reverse();
      const ring = flow.slice(0, -1);
      const first = ring.indexOf([...ring].sort()[0] ?? '');
      const canonical = [...ring.slice(first), ...ring.slice(0, first)];
      const id = canonical.join('\0');
      if (!reported.has(id)) {
        reported.add(id);
        const supplemental: SupplementalLocation[] = [];
        for (let i = members.length - 1; i > 0; i--) {
          const edge = members[i]?.via;
          const consumer = members[i - 1]?.name ?? '';
          if (edge !== undefined) {
            supplemental.push({message: `"${consumer}" takes input from "${edge.node}"`, location: locator.value(edge.path)});
          }
        }
        const firstEdge = members[1]?.via;
        out.push(
          errorAt('cycle', firstEdge === undefined ? locator.key(['nodes', name]) : locator.value(firstEdge.path),
            `cycle: ${[...canonical, canonical[0]].join(' -> ')}`, 'a node cannot depend on its own outputs; remove one of these inputs',
            supplemental),
        );
      }
      return;
    }
    state.set(name, 'active');
    stack.push({name, via});
    for (const edge of edges.get(name) ?? []) visit(edge.upstream, edge.ref);
    stack.pop();
    state.set(name, 'done');
  };
  for (const name of spec.nodes.keys()) visit(name, undefined);
  return out;
}

/** Kahn's algorithm over names, taking the alphabetically first ready node each time, so the order is stable. */
function topologicalNames(spec: PipelineSpec, edges: ReadonlyMap<string, readonly {upstream: string}[]>): string[] {
  const indegree = new Map<string, number>();
  const downstream = new Map<string, string[]>();
  for (const name of spec.nodes.keys()) indegree.set(name, 0);
  for (const [name, ups] of edges) {
    const unique = new Set(ups.map((u) => u.upstream));
    indegree.set(name, unique.size);
    for (const up of unique) downstream.set(up, [...(downstream.get(up) ?? []), name]);
  }
  const ready = [...indegree].filter(([, d]) => d === 0).map(([n]) => n).sort();
  const order: string[] = [];
  while (ready.length > 0) {
    const name = ready.shift() ?? '';
    order.push(name);
    for (const next of downstream.get(name) ?? []) {
      const d = (indegree.get(next) ?? 0) - 1;
      indegree.set(next, d);
      if (d === 0) {
        ready.push(next);
        ready.sort();
      }
    }
  }
  return order;
}

/** Checks types, ports and cycles for the whole pipeline. */
export function checkConnections(spec: PipelineSpec, registry: NodeTypeRegistry, locator: PipelineLocator): CheckedWiring {
  const diagnostics: Diagnostic[] = [];
  const counts = instanceCounts(spec);
  const types = new Map<string, RegisteredType>();
  for (const node of spec.nodes.values()) {
    if (node.type === undefined) continue;
    const registered = registry.get(node.type);
    if (registered === undefined) {
      const known = registry.names();
      diagnostics.push(
        errorAt('unknown-node-type', locator.value(['nodes', node.name, 'type']), `unknown node type "${node.type}"`,
          didYouMeanHint(node.type, known) ??
            (known.length === 0 ? 'no node types are defined: add the module that defines it to imports:' : `known types: ${known.join(', ')}`)),
      );
    } else types.set(node.name, registered);
  }
  const edges = new Map<string, {upstream: string; ref: InputRef}[]>();
  const inputs = new Map<string, CheckedInput[]>();
  for (const node of spec.nodes.values()) {
    const own = types.get(node.name)?.definition;
    const nodeEdges: {upstream: string; ref: InputRef}[] = [];
    const checked: CheckedInput[] = [];
    let valid = own !== undefined;
    for (const input of node.inputs) {
      const inPort = own?.inputs?.[input.port];
      if (own !== undefined && inPort === undefined) {
        const ports = Object.keys(own.inputs ?? {}).sort();
        diagnostics.push(
          errorAt('missing-port', locator.key(input.path), `${describeType(node)} has no input "${input.port}"`,
            didYouMeanHint(input.port, ports) ?? (ports.length === 0 ? 'this type takes no inputs' : `its inputs: ${ports.join(', ')}`)),
        );
        valid = false;
      }
      if (input.list && inPort !== undefined && !inPort.many) {
        diagnostics.push(
          errorAt('port-multiplicity', locator.value(input.path), `input "${input.port}" of ${describeType(node)} takes one instance, not a list`),
        );
        valid = false;
      }
      const connections: Connection[] = [];
      for (const ref of input.refs) {
        const upstream = spec.nodes.get(ref.node);
        if (upstream === undefined) {
          diagnostics.push(
            errorAt('missing-node', locator.value(ref.path), `there is no node "${ref.node}"`,
              didYouMeanHint(ref.node, spec.nodes.keys()) ?? `nodes: ${[...spec.nodes.keys()].join(', ')}`),
          );
          valid = false;
          continue;
        }
        nodeEdges.push({upstream: ref.node, ref});
        const upType = types.get(ref.node)?.definition;
        if (inPort === undefined || upType === undefined || input.list && !inPort.many) {
          valid = false;
          continue;
        }
        const counted = counts.get(ref.node) ?? {count: upstream.repeat, mapsOver: undefined};
        const connection = checkRef(node, input.port, inPort, input.list, ref, upstream, counted, upType, locator, diagnostics);
        if (connection === undefined) valid = false;
        else connections.push(connection);
      }
      if (inPort !== undefined) checked.push({port: input.port, many: inPort.many === true, connections});
    }
    if (own !== undefined) {
      for (const [port, inPort] of Object.entries(own.inputs ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
        if (inPort.optional === true || node.inputs.some((i) => i.port === port)) continue;
        // A misspelt port is already reported with this port as its suggestion; saying it is missing adds nothing.
        if (node.inputs.some((i) => own.inputs?.[i.port] === undefined && didYouMean(i.port, Object.keys(own.inputs ?? {})) === port)) continue;
        diagnostics.push(
          errorAt('missing-input', locator.key(['nodes', node.name]), `${describeType(node)} needs input "${port}" (${inPort.kind}${inPort.many ? ' list' : ''})`,
            `connect it: in: {${port}: <node>${inPort.many ? '[*]' : ''}}`),
        );
        valid = false;
      }
    }
    if (!checkMap(node, counts, locator, diagnostics)) valid = false;
    edges.set(node.name, nodeEdges);
    if (valid) inputs.set(node.name, checked);
  }
  const cycles = findCycles(spec, edges, locator);
  diagnostics.push(...cycles);
  return {types, inputs, order: topologicalNames(spec, edges), counts, diagnostics};
}
