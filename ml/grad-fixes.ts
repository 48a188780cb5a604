/**
 * Second-order-correct gradients, installed once into tfjs-core's gradient registry (so for every backend).
 *
 * Trajectory matching differentiates through unrolled SGD steps, i.e. it takes gradients of gradients. tfjs records
 * nested tapes, but two classes of built-in gradients break there:
 *
 * 1. Gradients that use a *saved output* (Exp, Tanh, Sigmoid, Elu, Softmax, LogSoftmax, Pow, Max, Min). The engine
 *    saves an output by cloning it inside the kernel call, so the clone is recorded on the outer tape *before* the
 *    kernel that produced it; the tape walk from the inputs never reaches it, and the dependence of the first-order
 *    gradient on the output is silently dropped (exp was off by 50%). The fix recomputes the output from the saved
 *    *input* with the same op, whose own gradient is then recorded properly.
 * 2. Gradient kernels with no gradient of their own: Conv2DBackpropFilter (conv2d weight gradient), the depthwise
 *    convolution's two backprop kernels, AvgPoolGrad, MaxPoolGrad, EluGrad, and the comparisons and logical ops
 *    (Equal, GreaterEqual, LogicalAnd, LogicalNot, ...) that the gradients of max/min, clipByValue and where use as
 *    masks.
 *
 * Every fix here is checked at first and second order against finite differences in test/gradients.test.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GradConfig, NamedAttrMap, Tensor, Tensor4D} from '@tensorflow/tfjs-core';

type Pair = number | [number, number];

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

/**
 * A zero gradient for `t`. Always float32: the engine rejects gradients of any other dtype, and the logical ops'
 * inputs are bool (tf.zerosLike of a bool tensor is bool).
 */
function zeroGrad(t: Tensor): Tensor {
  return tf.zeros(t.shape, 'float32');
}

function runKernel(name: string, inputs: Record<string, Tensor>, attrs: NamedAttrMap): Tensor {
  return tf.engine().runKernel(name, inputs, attrs) as Tensor;
}

/** A depthwise convolution's attributes, as DepthwiseConv2dNative takes them, from those of either backprop kernel. */
function depthwiseAttrs(attrs: NamedAttrMap): NamedAttrMap {
  return {
    strides: attrs['strides'] ?? 1,
    pad: attrs['pad'] ?? 'valid',
    dilations: attrs['dilations'] ?? [1, 1],
    dimRoundingMode: attrs['dimRoundingMode'] ?? null,
    dataFormat: 'NHWC',
  } as NamedAttrMap;
}

/**
 * The adjoint of MaxPoolGrad in dy: for each pooling window, `g` at the window's first maximum of `x` (row-major
 * window order, padding skipped), i.e. what MaxPoolGrad routes dy through, read in the other direction. Built from
 * pad/slice/reshape and comparisons, which every backend has and which are themselves differentiable:
 *   for each tap (u, v) of the window, xs and gs are x and g sampled at (i*sh + u - top, j*sw + v - left);
 *   m = max over taps of xs; the first tap with xs == m picks its gs.
 * x is padded with -Infinity, so a padded position never equals a window's maximum.
 */
function gatherAtWindowMax(x: Tensor4D, g: Tensor4D, attrs: NamedAttrMap): Tensor4D {
  const info = tf.backend_util.computePool2DInfo(
    x.shape,
    attrs['filterSize'] as Pair,
    attrs['strides'] as Pair,
    1,
    attrs['pad'] as 'valid' | 'same' | number,
    (attrs['dimRoundingMode'] ?? undefined) as 'floor' | 'round' | 'ceil' | undefined,
  );
  const {batchSize: nb, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow} = info;
  const {strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw} = info;
  const {top, left} = info.padInfo;
  // Tap (u, v) reads rows u - top + [0, oh*sh) of x: pad so that every such block is inside (extra rows are never
  // picked by the stride, they only make the block a whole number of strides).
  const bottom = Math.max(0, kh - 1 + oh * sh - top - h);
  const right = Math.max(0, kw - 1 + ow * sw - left - w);
  const padding: Array<[number, number]> = [[0, 0], [top, bottom], [left, right], [0, 0]];
  const xp = tf.pad(x, padding, Number.NEGATIVE_INFINITY);
  const gp = tf.pad(g, padding, 0);
  const sample = (t: Tensor4D, u: number, v: number): Tensor4D => {
    const block = tf.slice(t, [0, u, v, 0], [nb, oh * sh, ow * sw, c]);
    if (sh === 1 && sw === 1) return block;
    const strided = tf.slice(tf.reshape(block, [nb, oh, sh, ow, sw, c]), [0, 0, 0, 0, 0, 0], [nb, oh, 1, ow, 1, c]);
    return tf.reshape(strided, [nb, oh, ow, c]);
  };
  const taps: Array<[number, number]> = [];
  for (let u = 0; u < kh; u++) for (let v = 0; v < kw; v++) taps.push([u, v]);
  const xs = taps.map(([u, v]) => sample(xp, u, v));
  const m = xs.reduce((a, b) => tf.maximum(a, b));
  let taken: Tensor = tf.zeros([nb, oh, ow, c], 'bool');
  let out: Tensor = tf.zeros([nb, oh, ow, c]);
  for (const [k, [u, v]] of taps.entries()) {
    const hit = tf.logicalAnd(tf.equal(xs[k] as Tensor, m), tf.logicalNot(taken));
    out = tf.add(out, tf.mul(sample(gp, u, v), tf.cast(hit, 'float32')));
    taken = tf.logicalOr(taken, hit);
  }
  return out as Tensor4D;
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
    // elu'(x) from the recomputed output, through EluGrad (y >= 0 ? dy : dy * (y + 1)), whose gradient is below.
    kernelName: 'Elu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({x: () => runKernel('EluGrad', {dy: dy as Tensor, y: tf.elu(only(saved, 0))}, {})}),
  },
  {
    // EluGrad(dy, y) = dy * (y < 0 ? y + 1 : 1): linear in dy (the same kernel again), slope dy in y where y < 0.
    kernelName: 'EluGrad',
    inputsToSave: ['dy', 'y'],
    gradFunc: (g, saved) => {
      const dy = only(saved, 0);
      const y = only(saved, 1);
      return {
        dy: () => runKernel('EluGrad', {dy: g as Tensor, y}, {}),
        y: () => tf.mul(tf.mul(g as Tensor, dy), tf.cast(tf.less(y, 0), 'float32')),
      };
    },
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
  {
    // MaxPoolGrad routes dy to each window's first maximum: linear in dy, piecewise constant in the input (and the
    // output, which the kernels do not even read), so those get zero almost everywhere. (MaxPool's own gradient saves
    // its output, so the outer tape never reaches that argument; with a zero gradient that loses nothing.)
    kernelName: 'MaxPoolGrad',
    inputsToSave: ['input', 'output'],
    gradFunc: (g, saved, attrs) => {
      const input = only(saved, 0);
      const output = only(saved, 1);
      return {
        dy: () => gatherAtWindowMax(input as Tensor4D, g as Tensor4D, attrs as NamedAttrMap),
        input: () => zeroGrad(input),
        output: () => zeroGrad(output),
      };
    },
  },
  {
    // dW = corr(x, dy) per channel is bilinear: <G, dW> = <x, depthwiseBackpropInput(dy, G)> = <dy, depthwise(x, G)>.
    kernelName: 'DepthwiseConv2dNativeBackpropFilter',
    inputsToSave: ['x', 'dy'],
    gradFunc: (g, saved, attrs) => {
      const x = only(saved, 0);
      const dy = only(saved, 1);
      const conv = depthwiseAttrs(attrs as NamedAttrMap);
      return {
        x: () =>
          runKernel('DepthwiseConv2dNativeBackpropInput', {dy, filter: g as Tensor}, {...conv, inputShape: x.shape}),
        dy: () => runKernel('DepthwiseConv2dNative', {x, filter: g as Tensor}, conv),
      };
    },
  },
  {
    // dx = depthwise^T(dy, W) is bilinear: <G, dx> = <dy, depthwise(G, W)> = <W, depthwiseBackpropFilter(G, dy)>.
    kernelName: 'DepthwiseConv2dNativeBackpropInput',
    inputsToSave: ['dy', 'filter'],
    gradFunc: (g, saved, attrs) => {
      const dy = only(saved, 0);
      const filter = only(saved, 1);
      const conv = depthwiseAttrs(attrs as NamedAttrMap);
      return {
        dy: () => runKernel('DepthwiseConv2dNative', {x: g as Tensor, filter}, conv),
        filter: () =>
          runKernel('DepthwiseConv2dNativeBackpropFilter', {x: g as Tensor, dy}, {...conv, filterShape: filter.shape}),
      };
    },
  },
  // Comparisons and logical ops are piecewise constant: zero gradient. Max/min gradients use Equal as a mask,
  // clipByValue's uses GreaterEqual/LessEqual/LogicalAnd, where's (Select) uses LogicalNot.
  ...['Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr'].map(
    (kernelName): GradConfig => ({
      kernelName,
      inputsToSave: ['a', 'b'],
      gradFunc: (_dy, saved) => ({a: () => zeroGrad(only(saved, 0)), b: () => zeroGrad(only(saved, 1))}),
    }),
  ),
  {kernelName: 'LogicalNot', inputsToSave: ['x'], gradFunc: (_dy, saved) => ({x: () => zeroGrad(only(saved, 0))})},
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
