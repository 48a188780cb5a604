/**
 * A backward pass that frees memory as it goes, installed once on the tfjs engine for the outermost gradient call.
 *
 * Why: tfjs-core's backward pass (engine.gradients -> backpropagateGradients) keeps every intermediate gradient and
 * every tape node's saved tensors until the whole pass ends. For trajectory matching's full unroll the tape holds
 * N inner steps, each with its forward and its own backward pass, so the outer backward pass grew to about 2.8x the
 * tape itself (measured: 4 steps of a width-128 ConvNet on 100 images held 1.6 GB after the forward and peaked at
 * 5.9 GB in the backward; 20 steps ran out of 24 GB). Here a node's saved tensors are released once its gradient
 * has run, and the gradient of each of its outputs once nothing else can read it, as PyTorch's autograd does, so the
 * peak is about the tape's size. tfjs exports neither its tape filter nor its backward loop (and its ES module
 * sources cannot be imported by Node), so both are written here, following tfjs-core's own semantics.
 *
 * Only the outermost call (no tape recording around it) is replaced: there the tape dies with the call anyway. A
 * nested call (a gradient taken while an outer tape records, as in each inner step) keeps tfjs's own pass, because
 * the outer tape still needs the saved tensors and may read those gradients.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {NamedTensorMap, Tensor} from '@tensorflow/tfjs-core';

/** The parts of a tfjs tape node that the backward pass reads (tfjs-core's TapeNode). */
interface TapeNode {
  readonly id: number;
  readonly kernelName: string;
  readonly inputs: NamedTensorMap;
  readonly outputs: Tensor[];
  readonly gradient?: (dys: Tensor[]) => Record<string, () => Tensor>;
  readonly saved?: Tensor[];
}

/** The parts of tfjs-core's Engine that engine.gradients uses. */
interface EngineInternals {
  readonly state: {gradientDepth: number; activeTape: TapeNode[] | null};
  gradients(f: () => Tensor, xs: Tensor[], dy?: Tensor, allowNoGradients?: boolean): {value: Tensor; grads: Tensor[]};
  scopedRun<T>(start: () => void, end: () => void, f: () => T): T;
  startTape(): void;
  endTape(): void;
  tidy<T extends tf.TensorContainer>(nameOrFn: string | (() => T), fn?: () => T): T;
}

/**
 * The nodes on a path from some x to y, in tape order, each with only the inputs that depend on an x (tfjs-core's
 * getFilteredNodesXToY): nodes off the path are not differentiated, and inputs that are constants get no gradient.
 */
export function filterTape(tape: readonly TapeNode[], xs: readonly Tensor[], y: Tensor): TapeNode[] {
  const fromX = new Set<number>(xs.map((x) => x.id));
  const nodeFromX = tape.map((node) => {
    const hit = Object.values(node.inputs).some((t) => fromX.has(t.id));
    if (hit) for (const o of node.outputs) fromX.add(o.id);
    return hit;
  });
  const toY = new Set<number>([y.id]);
  const kept: TapeNode[] = [];
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node === undefined || !node.outputs.some((o) => toY.has(o.id))) continue;
    for (const t of Object.values(node.inputs)) toY.add(t.id);
    if (!nodeFromX[i]) continue;
    const inputs: NamedTensorMap = {};
    for (const [name, t] of Object.entries(node.inputs)) if (fromX.has(t.id)) inputs[name] = t;
    kept.push({...node, inputs});
  }
  return kept.reverse();
}

/** The gradient map of a pass: tensor id -> accumulated gradient, with a count of the entries holding each tensor. */
class GradientMap {
  readonly #byId = new Map<number, Tensor>();
  readonly #holders = new Map<Tensor, number>();

  get(id: number): Tensor | undefined {
    return this.#byId.get(id);
  }

  set(id: number, t: Tensor): void {
    this.delete(id, false);
    this.#byId.set(id, t);
    this.#holders.set(t, (this.#holders.get(t) ?? 0) + 1);
  }

  /** True while some entry holds `t`. */
  holds(t: Tensor): boolean {
    return this.#holders.has(t);
  }

  /** Forgets id's gradient; disposes it (with `dispose`) when no other entry holds the same tensor and `keep` allows. */
  delete(id: number, dispose: boolean, keep?: ReadonlySet<Tensor>): void {
    const t = this.#byId.get(id);
    if (t === undefined) return;
    this.#byId.delete(id);
    const left = (this.#holders.get(t) ?? 1) - 1;
    if (left > 0) {
      this.#holders.set(t, left);
      return;
    }
    this.#holders.delete(t);
    if (dispose && keep?.has(t) !== true) t.dispose();
  }
}

/** tfjs-core's backpropagateGradients, releasing each node's saved tensors and used-up output gradients. */
function backpropagate(grads: GradientMap, tape: readonly TapeNode[], xIds: ReadonlySet<number>, keep: ReadonlySet<Tensor>, engine: EngineInternals): void {
  for (let i = tape.length - 1; i >= 0; i--) {
    const node = tape[i];
    if (node === undefined) continue;
    if (node.gradient === undefined) throw new Error(`Cannot compute gradient: gradient function not found for ${node.kernelName}.`);
    // Outputs off the path to y get null, which the engine's wrapper turns into zeros (as in tfjs).
    const dys = node.outputs.map((o) => grads.get(o.id) ?? null) as Tensor[];
    const inputGradients = node.gradient(dys);
    for (const [name, x] of Object.entries(node.inputs)) {
      const thunk = inputGradients[name];
      if (thunk === undefined) {
        throw new Error(`Cannot backprop through input ${name}. Available gradients found: ${Object.keys(inputGradients).join(',')}.`);
      }
      const dx = engine.tidy(thunk);
      if (dx.dtype !== 'float32') {
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input ${name} must have 'float32' dtype, but has '${dx.dtype}'`);
      }
      if (!tf.util.arraysEqual(dx.shape, x.shape)) {
        throw new Error(`Error in gradient for op ${node.kernelName}. The gradient of input '${name}' has shape '${dx.shape.join(',')}', which does not match the shape of the input '${x.shape.join(',')}'`);
      }
      const current = grads.get(x.id);
      if (current === undefined) grads.set(x.id, dx);
      else {
        grads.set(x.id, tf.add(current, dx));
        // Both terms are used up unless held elsewhere (a gradient function may return a tensor it was given).
        disposeIfFree(current, grads, keep);
        if (dx !== current) disposeIfFree(dx, grads, keep);
      }
    }
    // Each tensor is the output of one node: once that node has run, nothing reads its outputs' gradients again
    // (except the xs' own, which are the result). Its saved tensors are this node's alone.
    for (const o of node.outputs) if (!xIds.has(o.id)) grads.delete(o.id, true, keep);
    for (const t of node.saved ?? []) if (!grads.holds(t)) t.dispose();
  }
}

/** Disposes a used-up gradient unless a map entry still holds it or it is the caller's. */
function disposeIfFree(t: Tensor, grads: GradientMap, keep: ReadonlySet<Tensor>): void {
  if (!grads.holds(t) && !keep.has(t)) t.dispose();
}

let installed = false;

/** Installs the lean backward pass on the tfjs engine. Idempotent; called by activateBackend. */
export function installLeanBackprop(): void {
  if (installed) return;
  installed = true;
  const engine = tf.engine() as unknown as EngineInternals;
  const original = engine.gradients.bind(engine);
  engine.gradients = function (f, xs, dy, allowNoGradients = false) {
    if (engine.state.gradientDepth > 0) return original(f, xs, dy, allowNoGradients);
    if (xs.length === 0) throw new Error('gradients() received an empty list of xs.');
    if (dy != null && dy.dtype !== 'float32') throw new Error(`dy must have 'float32' dtype, but has '${dy.dtype}'`);
    const y = engine.scopedRun(
      () => engine.startTape(),
      () => engine.endTape(),
      () => engine.tidy('forward', f),
    );
    if (!(y instanceof tf.Tensor)) throw new Error('The result y returned by f() must be a tensor.');
    const tape = engine.state.activeTape ?? [];
    const filtered = filterTape(tape, xs, y);
    if (!allowNoGradients && filtered.length === 0) {
      throw new Error('Cannot compute gradient of y=f(x) with respect to x. Make sure that the f you passed encloses all operations that lead from x to y.');
    }
    return engine.tidy('backward', () => {
      const grads = new GradientMap();
      grads.set(y.id, dy ?? tf.ones(y.shape));
      const xIds = new Set(xs.map((x) => x.id));
      // The caller's dy is theirs to dispose.
      const keep = new Set<Tensor>(dy == null ? [] : [dy]);
      backpropagate(grads, filtered, xIds, keep, engine);
      const result = xs.map((x) => grads.get(x.id)) as Tensor[];
      // Nodes off the filtered path still hold saved tensors (the outermost tape is done with them, as in tfjs).
      for (const node of tape) for (const t of node.saved ?? []) t.dispose();
      engine.state.activeTape = null;
      return {value: y, grads: result};
    });
  } as EngineInternals['gradients'];
}
