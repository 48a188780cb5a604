/**
 * Second-order-correct gradients, installed once into tfjs-core's gradient registry (so for every backend).
 *
 * Trajectory matching differentiates through unrolled SGD steps, i.e. it takes gradients of gradients. tfjs records
 * nested tapes, but two classes of built-in gradients break there:
 *
 * 1. Gradients that use a *saved output* (Exp, Tanh, Sigmoid, Softmax, LogSoftmax, Pow, Max, Min). The engine saves
 *    an output by cloning it inside the kernel call, so the clone is recorded on the outer tape *before* the kernel
 *    that produced it; the tape walk from the inputs never reaches it, and the dependence of the first-order gradient
 *    on the output is silently dropped (exp was off by 50%). The fix recomputes the output from the saved *input*
 *    with the same op, whose own gradient is then recorded properly.
 * 2. Gradient kernels with no gradient of their own: Conv2DBackpropFilter (conv2d weight gradient), AvgPoolGrad,
 *    and the comparisons (Equal, ...) that max/min gradients use as masks.
 *
 * Every fix here is checked at first and second order against finite differences in test/gradients.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GradConfig, NamedAttrMap, Tensor, Tensor4D} from '@tensorflow/tfjs-core';

function only(saved: Tensor[], i: number): Tensor {
  const t = saved[i];
  if (t === undefined) throw new Error(`Internal error: saved tensor ${i} missing`);
  return t;
}

/** Reshapes a reduction result (or its gradient) to the kept-dimension shape, for broadcasting against x. */
function keptShape(x: Tensor, axes: readonly number[]): number[] {
  return x.shape.map((d, i) => (axes.includes(i) ? 1 : d));
}

function axesOf(attr: unknown, rank: number): number[] {
  const raw = Array.isArray(attr) ? (attr as number[]) : [attr as number];
  return raw.map((a) => (a < 0 ? a + rank : a));
}

/** The gradient of max/min: dy routed to the positions equal to the recomputed extremum (as tfjs does). */
function extremumGrad(kind: 'max' | 'min'): GradConfig['gradFunc'] {
  return (dy, saved, attrs) => {
    const x = only(saved, 0);
    // Max names its axes 'reductionIndices', Min names them 'axis'.
    const named = attrs as NamedAttrMap;
    const axes = axesOf(named['reductionIndices'] ?? named['axis'], x.rank);
    return {
      x: () => {
        const shape = keptShape(x, axes);
        const y = kind === 'max' ? tf.max(x, axes, true) : tf.min(x, axes, true);
        const mask = tf.cast(tf.equal(x, y), (dy as Tensor).dtype);
        return tf.mul(tf.reshape(dy as Tensor, shape), mask);
      },
    };
  };
}

/** Sums a broadcast gradient back to `shape`. */
function unbroadcast(g: Tensor, shape: readonly number[]): Tensor {
  const axes: number[] = [];
  const offset = g.rank - shape.length;
  for (let i = 0; i < g.rank; i++) {
    if (i < offset || (shape[i - offset] === 1 && g.shape[i] !== 1)) axes.push(i);
  }
  return tf.reshape(axes.length > 0 ? tf.sum(g, axes) : g, [...shape]);
}

const FIXES: readonly GradConfig[] = [
  {
    kernelName: 'Exp',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({x: () => tf.mul(dy as Tensor, tf.exp(only(saved, 0)))}),
  },
  {
    kernelName: 'Tanh',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () => tf.mul(dy as Tensor, tf.sub(1, tf.square(tf.tanh(only(saved, 0))))),
    }),
  },
  {
    kernelName: 'Sigmoid',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({
      x: () => {
        const s = tf.sigmoid(only(saved, 0));
        return tf.mul(dy as Tensor, tf.mul(s, tf.sub(1, s)));
      },
    }),
  },
  {
    kernelName: 'Softmax',
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => ({
      logits: () => {
        const logits = only(saved, 0);
        const dim = axesOf((attrs as NamedAttrMap)['dim'], logits.rank);
        const y = tf.softmax(logits, dim[0]);
        const dyY = tf.mul(dy as Tensor, y);
        return tf.sub(dyY, tf.mul(tf.sum(dyY, dim, true), y));
      },
    }),
  },
  {
    // tf.logSoftmax is a customGrad op and never reaches this kernel; a graph model or a future op might.
    kernelName: 'LogSoftmax',
    inputsToSave: ['logits'],
    gradFunc: (dy, saved, attrs) => ({
      logits: () => {
        const logits = only(saved, 0);
        const axis = axesOf((attrs as NamedAttrMap)['axis'], logits.rank);
        return tf.sub(dy as Tensor, tf.mul(tf.sum(dy as Tensor, axis, true), tf.softmax(logits, axis[0])));
      },
    }),
  },
  {
    kernelName: 'Pow',
    inputsToSave: ['a', 'b'],
    gradFunc: (dy, saved) => {
      const a = only(saved, 0);
      const b = only(saved, 1);
      return {
        a: () => unbroadcast(tf.mul(dy as Tensor, tf.mul(b, tf.pow(a, tf.sub(b, 1)))), a.shape),
        b: () => {
          const logA = tf.where(tf.greater(a, 0), tf.log(a), tf.zerosLike(a));
          return unbroadcast(tf.mul(dy as Tensor, tf.mul(tf.pow(a, b), logA)), b.shape);
        },
      };
    },
  },
  {kernelName: 'Max', inputsToSave: ['x'], gradFunc: extremumGrad('max')},
  {kernelName: 'Min', inputsToSave: ['x'], gradFunc: extremumGrad('min')},
  {
    // dW = corr(x, dy) is bilinear: <G, dW> = <x, convT(dy, G)> = <dy, conv(x, G)>.
    kernelName: 'Conv2DBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (g, saved, attrs) => {
      const x = only(saved, 0) as Tensor4D;
      const dy = only(saved, 1) as Tensor4D;
      // Same strides/pad/dataFormat/dimRoundingMode; the kernels ignore the extra filterShape attribute.
      const conv = attrs as NamedAttrMap;
      return {
        x: () =>
          tf.engine().runKernel('Conv2DBackpropInput', {dy, filter: g as Tensor}, {...conv, inputShape: x.shape}) as Tensor,
        dy: () => tf.engine().runKernel('Conv2D', {x, filter: g as Tensor}, {...conv, dilations: [1, 1]}) as Tensor,
      };
    },
  },
  {
    // AvgPoolGrad spreads dy evenly over each window; it is linear in dy and does not depend on the input values.
    kernelName: 'AvgPoolGrad',
    inputsToSave: ['input'],
    gradFunc: (g, saved, attrs) => {
      const input = only(saved, 0);
      // AvgPoolGrad's attributes (filterSize, strides, pad, dimRoundingMode) are exactly AvgPool's.
      const pool = attrs as NamedAttrMap;
      return {
        dy: () => tf.engine().runKernel('AvgPool', {x: g as Tensor}, pool) as Tensor,
        input: () => tf.zerosLike(input),
      };
    },
  },
  // Comparisons are piecewise constant: zero gradient. Max/min gradients use Equal as a mask.
  ...['Equal', 'NotEqual', 'Greater', 'Less', 'LessEqual'].map(
    (kernelName): GradConfig => ({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => ({a: () => tf.zerosLike(only(saved, 0)), b: () => tf.zerosLike(only(saved, 1))}),
    }),
  ),
];

let installed = false;

/** Registers the fixed gradients. Idempotent; called by initBackend/activateBackend. */
export function installGradientFixes(): void {
  if (installed) return;
  installed = true;
  for (const config of FIXES) tf.registerGradient(config);
}

/** The kernels whose gradients this module replaces or adds (for docs and tests). */
export const FIXED_GRADIENT_KERNELS: readonly string[] = FIXES.map((c) => c.kernelName);
