/**
 * Every op the trajectory-matching inner loop uses, checked at first order (tf.grad vs finite differences) and at
 * second order (gradient through an unrolled SGD step, the MTT shape), on cpu and on wasm, with the registry fixes of
 * ml/grad-fixes.ts and the wasm kernels installed. Sizes are tiny: this file must stay well under a minute.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {BATCH_NORM_TRAIN_GRAD, INSTANCE_NORM_GRAD, batchNormTrain, compositeNormGrad, instanceNorm, normGradGrad} from '../ml/fused-norm.js';
import {logSoftmax, logSumExp, softmax} from '../ml/ops.js';
import {assertGradcheck, gradcheck, gradgradcheck, withBackend} from './util/gradcheck.js';
import type {GradgradcheckOptions, TestBackend} from './util/gradcheck.js';

const BACKENDS: readonly TestBackend[] = ['cpu', 'wasm', 'libtorch'];

type Inner = (w: tf.Tensor, x: tf.Tensor) => tf.Scalar;

/** One op under test: an inner loss in (w, x) and the shapes to evaluate it at. */
interface OpCase {
  readonly name: string;
  readonly w: readonly number[];
  readonly x: readonly number[];
  readonly inner: (c: tf.Tensor) => Inner;
  /** Shape of the fixed random weighting `c` that breaks symmetries (defaults to none). */
  readonly c?: readonly number[];
  readonly options?: GradgradcheckOptions;
}

/** Unary ops are tested on matMul(x, w) weighted by c: sum(c * op(x @ w)). */
function unary(name: string, op: (t: tf.Tensor) => tf.Tensor): OpCase {
  return {
    name,
    w: [3, 4],
    x: [2, 3],
    c: [2, 4],
    inner: (c) => (w, x) => tf.sum(tf.mul(c, op(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D)))),
  };
}

/** Reductions that keep one value per row are weighted by a [2, 1] c. */
function rowwise(name: string, op: (t: tf.Tensor) => tf.Tensor): OpCase {
  return {...unary(name, op), c: [2, 1]};
}

const softplus1 = (t: tf.Tensor): tf.Tensor => tf.add(tf.square(t), 1);

/**
 * A conv block: conv (stride, pad) -> tanh -> 2x2 avg pool -> sum of squares. tanh rather than relu: finite
 * differences across relu's kink are wrong by design; relu itself is checked in the unary cases and the composite.
 */
function convCase(pad: 'same' | 'valid' | number, stride: 1 | 2, size: number, cin: number): OpCase {
  return {
    name: `conv2d pad ${String(pad)} stride ${stride} -> tanh -> avgPool 2x2 (${size}x${size}x${cin})`,
    w: [3, 3, cin, 3],
    x: [2, size, size, cin],
    inner: () => (w, x) => {
      const y = tf.tanh(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad));
      const pooled = y.shape[1] >= 2 && y.shape[2] >= 2 ? tf.avgPool(y, 2, 2, 'valid') : y;
      return tf.sum(tf.square(pooled));
    },
  };
}

/**
 * A fixed offset field for max pooling with k x k windows: position (r, q) of image b, channel ch gets
 * SPACING * (its class's rank - middle), where the class is (r mod k, q mod k) and the ranks are a seeded permutation
 * per (b, ch). Any k consecutive rows and columns hold each class once, so every window (of either stride, clipped by
 * 'same' padding or not) sees distinct offsets at least SPACING apart. Every other (b, ch) pair is shifted down by
 * SPACING * k^2 / 2 + 0.5, so all its windows have negative maxima (the case tfjs-wasm's own MaxPoolGrad gets wrong).
 */
const SPACING = 0.75;

function windowOffsets(shape: readonly [number, number, number, number], k: number, seed: number): Float32Array {
  const [nb, h, w, c] = shape;
  let s = seed >>> 0;
  const rand = (): number => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
  const ranks: number[][] = [];
  for (let i = 0; i < nb * c; i++) {
    const keys = Array.from({length: k * k}, rand);
    const order = keys.map((_, j) => j).sort((a, b) => (keys[a] ?? 0) - (keys[b] ?? 0));
    const rank = new Array<number>(k * k);
    order.forEach((cls, r) => (rank[cls] = r));
    ranks.push(rank);
  }
  const out = new Float32Array(nb * h * w * c);
  for (let b = 0; b < nb; b++) {
    for (let r = 0; r < h; r++) {
      for (let q = 0; q < w; q++) {
        for (let ch = 0; ch < c; ch++) {
          const rank = ranks[b * c + ch]?.[(r % k) * k + (q % k)] ?? 0;
          const shift = (b * c + ch) % 2 === 1 ? SPACING * k * k / 2 + 0.5 : 0;
          out[((b * h + r) * w + q) * c + ch] = SPACING * (rank - (k * k - 1) / 2) - shift;
        }
      }
    }
  }
  return out;
}

/**
 * conv 3x3 'same' -> tanh / 4 + offsets -> max pool (size, stride, pad) -> sum of squares: MaxPool's gradient and, at
 * second order, MaxPoolGrad's gradient inside an unrolled step. The pooled signal (tanh / 4) varies by at most 0.5,
 * less than the offsets' SPACING, so each window's argmax is fixed by the offsets and finite differences never cross
 * an argmax switch (with plain random inputs some coordinate always did); which position wins still differs from
 * channel to channel and image to image, and windows with negative maxima are included. Ties are checked separately.
 */
function maxPoolCase(size: number, stride: 1 | 2, pad: 'same' | 'valid', n: number): OpCase {
  const shape = [2, n, n, 3] as const;
  const offsets = windowOffsets(shape, size, 40 + size * 10 + stride * 3 + n);
  return {
    name: `conv2d -> tanh -> maxPool ${size}x${size} stride ${stride} pad ${pad} (${n}x${n})`,
    w: [3, 3, 2, 3],
    x: [2, n, n, 2],
    inner: () => (w, x) => {
      const y = tf.tanh(tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same'));
      const shifted = tf.add(tf.mul(y, 0.25), tf.tensor4d(offsets, [...shape])) as tf.Tensor4D;
      return tf.sum(tf.square(tf.maxPool(shifted, size, stride, pad)));
    },
  };
}

/**
 * depthwiseConv2d (channel multiplier `mult`) -> tanh -> weighted sum: at second order this runs the gradients of
 * both depthwise backprop kernels (d/dw goes through the filter gradient, d/dx through the input gradient).
 */
function depthwiseCase(stride: 1 | 2, pad: 'same' | 'valid' | number, mult: number, n: number): OpCase {
  const out = tf.backend_util.computeConv2DInfo([2, n, n, 2], [3, 3, 2, mult], stride, 1, pad, undefined, true).outShape;
  return {
    name: `depthwiseConv2d x${mult} stride ${stride} pad ${String(pad)} -> tanh (${n}x${n}x2)`,
    w: [3, 3, 2, mult],
    x: [2, n, n, 2],
    c: out,
    inner: (c) => (w, x) => {
      const y = tf.depthwiseConv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
      return tf.sum(tf.mul(c, tf.tanh(y)));
    },
  };
}

/**
 * Two depthwise layers with flat parameters: the first layer's weight gradient runs through the second layer's
 * DepthwiseConv2dNativeBackpropInput, so the unrolled step differentiates that kernel too (a single layer only
 * reaches the filter gradient).
 */
function twoDepthwiseCase(stride: 1 | 2, pad: 'same' | 'valid', out: number): OpCase {
  return {
    name: `depthwiseConv2d x2 -> tanh -> depthwiseConv2d x1 stride ${stride} pad ${pad} (flat params)`,
    w: [3 * 3 * 2 * 2 + 3 * 3 * 4],
    x: [2, 6, 6, 2],
    c: [2, out, out, 4],
    inner: (c) => (w, x) => {
      const take = taker(w);
      const h = tf.tanh(tf.depthwiseConv2d(x as tf.Tensor4D, take([3, 3, 2, 2]) as tf.Tensor4D, 1, 'same'));
      return tf.sum(tf.mul(c, tf.tanh(tf.depthwiseConv2d(h, take([3, 3, 4, 1]) as tf.Tensor4D, stride, pad))));
    },
  };
}

/** Takes consecutive slices of a flat parameter vector (the FunctionalModel layout). */
function taker(flat: tf.Tensor): (shape: readonly number[]) => tf.Tensor {
  let offset = 0;
  return (shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const t = tf.reshape(tf.slice(flat, [offset], [n]), [...shape]);
    offset += n;
    return t;
  };
}

/** Instance norm (one group per channel) or group norm, via mean / square / rsqrt as the models write it. */
function normalise(x: tf.Tensor4D, groups: number): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const g = tf.reshape(x, [n, h, w, groups, c / groups]);
  const mean = tf.mean(g, [1, 2, 4], true);
  const centred = tf.sub(g, mean);
  const variance = tf.mean(tf.square(centred), [1, 2, 4], true);
  return tf.reshape(tf.mul(centred, tf.rsqrt(tf.add(variance, 1e-5))), [n, h, w, c]);
}

/** Mean cross-entropy with the second-order-safe logSoftmax of ml/ops.ts. */
function crossEntropy(logits: tf.Tensor, labels: readonly number[]): tf.Scalar {
  const onehot = tf.oneHot(tf.tensor1d([...labels], 'int32'), logits.shape[1] ?? 1);
  return tf.div(tf.neg(tf.sum(tf.mul(onehot, logSoftmax(logits)))), labels.length);
}

const CASES: readonly OpCase[] = [
  unary('exp', tf.exp),
  unary('tanh', tf.tanh),
  unary('sigmoid', tf.sigmoid),
  unary('relu', tf.relu),
  unary('elu', tf.elu),
  unary('clipByValue (squared)', (t) => tf.square(tf.clipByValue(t, -0.5, 0.7))),
  unary('where(greater) (Select; LogicalNot in its gradient)', (t) => tf.where(tf.greater(t, 0), tf.square(t), tf.mul(t, 0.3))),
  // Continuous at the band's edges (0.25 on both sides), so only the kinks at +-0.5 are non-smooth.
  unary('where(logicalAnd(greater, less))', (t) =>
    tf.where(tf.logicalAnd(tf.greater(t, -0.5), tf.less(t, 0.5)), tf.square(t), tf.mul(tf.abs(t), 0.5)),
  ),
  unary('square', tf.square),
  unary('sqrt', (t) => tf.sqrt(softplus1(t))),
  unary('rsqrt', (t) => tf.rsqrt(softplus1(t))),
  unary('log', (t) => tf.log(softplus1(t))),
  unary('pow', (t) => tf.pow(softplus1(t), 1.5)),
  unary('div/sub/neg', (t) => tf.neg(tf.div(tf.sub(t, 0.3), softplus1(t)))),
  unary('tf.softmax (kernel)', (t) => tf.softmax(t)),
  unary('ops.softmax', (t) => softmax(t)),
  unary('ops.logSoftmax', (t) => logSoftmax(t)),
  rowwise('ops.logSumExp', (t) => logSumExp(t, -1, true)),
  rowwise('tf.logSumExp', (t) => tf.logSumExp(t, -1, true)),
  rowwise('tf.max', (t) => tf.max(t, -1, true)),
  rowwise('tf.min', (t) => tf.min(t, -1, true)),
  rowwise('moments variance', (t) => tf.moments(t, -1, true).variance),
  convCase('same', 1, 6, 2),
  convCase('same', 2, 6, 2),
  convCase('valid', 1, 6, 2),
  convCase('valid', 2, 7, 2),
  convCase(3, 1, 4, 1),
  {
    // The first layer's weight gradient runs through the second layer's Conv2DBackpropInput (tfjs-core's own gradient
    // of that kernel), which the single-layer cases above never differentiate.
    name: 'conv2d -> tanh -> conv2d stride 2 pad same (flat params)',
    w: [3 * 3 * 2 * 3 + 3 * 3 * 3 * 2],
    x: [2, 6, 6, 2],
    c: [2, 3, 3, 2],
    inner: (c) => (w, x) => {
      const take = taker(w);
      const h = tf.tanh(tf.conv2d(x as tf.Tensor4D, take([3, 3, 2, 3]) as tf.Tensor4D, 1, 'same'));
      return tf.sum(tf.mul(c, tf.tanh(tf.conv2d(h, take([3, 3, 3, 2]) as tf.Tensor4D, 2, 'same'))));
    },
  },
  maxPoolCase(2, 2, 'valid', 6),
  maxPoolCase(2, 1, 'valid', 5),
  maxPoolCase(3, 2, 'same', 7),
  maxPoolCase(3, 1, 'same', 5),
  depthwiseCase(1, 'same', 2, 5),
  depthwiseCase(2, 'valid', 1, 7),
  depthwiseCase(2, 'same', 2, 6),
  depthwiseCase(1, 1, 1, 4),
  twoDepthwiseCase(2, 'same', 3),
  twoDepthwiseCase(1, 'valid', 4),
  {
    name: 'conv2d + bias add + instance norm + tanh (flat params, slice/reshape)',
    w: [3 * 3 * 2 * 4 + 4],
    x: [2, 5, 5, 2],
    c: [2, 5, 5, 4],
    inner: (c) => (w, x) => {
      const take = taker(w);
      const y = tf.add(tf.conv2d(x as tf.Tensor4D, take([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same'), take([4])) as tf.Tensor4D;
      return tf.sum(tf.mul(c, tf.tanh(normalise(y, 4))));
    },
  },
  {
    // ml/fused-norm.ts: the fused InstanceNorm/InstanceNormGrad kernels on libtorch (second order through the
    // composite vjp), the composite ops elsewhere.
    name: 'conv2d + instanceNorm with affine gamma/beta + tanh (the ConvNet norm)',
    w: [3 * 3 * 2 * 4 + 4 + 4],
    x: [2, 5, 5, 2],
    c: [2, 5, 5, 4],
    inner: (c) => (w, x) => {
      const take = taker(w);
      const y = tf.conv2d(x as tf.Tensor4D, take([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same');
      const gamma = tf.add(take([4]), 1);
      return tf.sum(tf.mul(c, tf.tanh(instanceNorm(y, gamma, take([4]), 1e-5))));
    },
  },
  {
    // ml/fused-norm.ts batch norm in training mode (fused on libtorch), its statistics feeding the loss too.
    name: 'conv2d + batchNormTrain with affine gamma/beta + tanh, plus its mean and variance',
    w: [3 * 3 * 2 * 4 + 4 + 4],
    x: [3, 4, 4, 2],
    c: [3, 4, 4, 4],
    inner: (c) => (w, x) => {
      const take = taker(w);
      const y = tf.conv2d(x as tf.Tensor4D, take([3, 3, 2, 4]) as tf.Tensor4D, 1, 'same');
      const [out, mean, variance] = batchNormTrain(y, tf.add(take([4]), 1), take([4]), 1e-5);
      return tf.add(tf.sum(tf.mul(c, tf.tanh(out))), tf.sum(tf.mul(tf.sin(mean), tf.sqrt(tf.add(variance, 1)))));
    },
  },
  {
    name: 'group norm (2 groups of 2) via moments-style mean/rsqrt',
    w: [2, 4],
    x: [2, 3, 3, 2],
    c: [2, 3, 3, 4],
    inner: (c) => (w, x) => {
      const y = tf.reshape(tf.matMul(tf.reshape(x, [18, 2]), w as tf.Tensor2D), [2, 3, 3, 4]) as tf.Tensor4D;
      return tf.sum(tf.mul(c, normalise(y, 2)));
    },
  },
  {
    name: 'gather (DSA-style resampling) + transpose + matMul',
    w: [4, 3],
    x: [2, 4, 4],
    inner: () => (w, x) => {
      // A crop/flip-like pixel permutation with repeats, as DSA builds with gather.
      const picked = tf.gather(x, tf.tensor1d([3, 1, 1, 0], 'int32'), 2);
      const t = tf.reshape(tf.transpose(picked, [0, 2, 1]), [8, 4]);
      return tf.sum(tf.square(tf.tanh(tf.matMul(t, w as tf.Tensor2D))));
    },
  },
  {
    // The Sum and Mean gradients broadcast dy back over the reduced axes (ml/fast-grads.ts): through Tile on
    // libtorch, as a multiply by ones elsewhere. Leading, trailing and inner axes, with and without keepDims.
    name: 'sum / mean over some axes (broadcast gradients)',
    w: [3, 8],
    x: [2, 3],
    c: [2, 2, 4],
    inner: (c) => (w, x) => {
      const y = tf.reshape(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), [2, 2, 4]);
      const centred = tf.sub(y, tf.mean(y, [1, 2], true));
      const columns = tf.sum(tf.square(y), 0);
      const rows = tf.mean(tf.tanh(y), 2);
      return tf.add(tf.sum(tf.mul(c, tf.tanh(centred))), tf.add(tf.sum(tf.sin(columns)), tf.sum(tf.cos(rows))));
    },
  },
  {
    name: 'slice / concat / pad',
    w: [3, 3],
    x: [3, 3],
    inner: () => (w, x) => {
      const y = tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D);
      const joined = tf.concat([tf.slice(y, [0, 1], [3, 2]), tf.pad(tf.slice(y, [1, 0], [2, 1]), [[0, 1], [0, 0]])], 1);
      return tf.sum(tf.exp(tf.mul(joined, 0.5)));
    },
  },
  {
    name: 'dense -> cross-entropy (ops.logSoftmax)',
    w: [5, 3],
    x: [4, 5],
    inner: () => (w, x) => crossEntropy(tf.matMul(x as tf.Tensor2D, w as tf.Tensor2D), [0, 2, 1, 2]),
  },
];

/** Seeded normal tensors, so both backends and every run check the same numbers. */
function randn(shape: readonly number[], seed: number, scale = 1): tf.Tensor {
  return tf.tidy(() => tf.mul(tf.randomNormal([...shape], 0, 1, 'float32', seed), scale));
}

for (const backend of BACKENDS) {
  describe(`gradients on ${backend}`, () => {
    for (const [i, op] of CASES.entries()) {
      it(`${op.name}: first and second order`, async () => {
        await withBackend(
          backend,
          () => {
            const w = randn(op.w, 100 + i, 0.7);
            const x = randn(op.x, 200 + i);
            const c = op.c === undefined ? tf.scalar(1) : randn(op.c, 300 + i);
            const inner = op.inner(c);
            const opts = {maxCoords: 10, ...op.options};
            assertGradcheck(`${op.name} d/dw`, gradcheck((wv) => inner(wv, x), w, opts));
            assertGradcheck(`${op.name} d/dx`, gradcheck((xv) => inner(w, xv), x, opts));
            assertGradcheck(`${op.name} second order d/dx`, gradgradcheck(inner, w, x, {...opts, lr: 0.3}));
            assertGradcheck(`${op.name} second order d/dw`, gradgradcheck(inner, w, x, {...opts, lr: 0.3, wrt: 'w'}));
            tf.dispose([w, x, c]);
          },
          {checkLeaks: true},
        );
      });
    }

    // Ties are where backends disagree (the first maximum wins on cpu, the last one in tfjs-wasm's own kernel), so
    // the gradient of MaxPoolGrad must route through the same position as the backend's MaxPoolGrad.
    // f(dy) = <G, MaxPoolGrad(dy)> is linear in dy, so its finite differences are exact up to rounding, and they
    // measure the backend's kernel itself; x takes values in {-1, 0, 1}, so most windows tie and many are negative.
    for (const [size, stride, pad, shape] of [
      [2, 2, 'valid', [2, 6, 6, 3]],
      [2, 1, 'valid', [1, 5, 5, 2]],
      [3, 2, 'same', [2, 7, 7, 2]],
      [3, 1, 'same', [1, 5, 5, 3]],
    ] as const) {
      it(`MaxPoolGrad's gradient in dy matches the kernel under ties (${size}x${size} stride ${stride} ${pad})`, async () => {
        await withBackend(
          backend,
          () => {
            const x = tf.tidy(() => tf.round(tf.randomUniform([...shape], -1.5, 1.5, 'float32', 5))) as tf.Tensor4D;
            const g = randn(shape, 6);
            const dy = randn(tf.backend_util.computePool2DInfo(x.shape, size, stride, 1, pad).outShape, 7);
            const f = (dyv: tf.Tensor): tf.Scalar => {
              const dx = tf.grad((xv: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(xv as tf.Tensor4D, size, stride, pad), dyv)))(x);
              return tf.sum(tf.mul(g, dx));
            };
            assertGradcheck('MaxPoolGrad adjoint', gradcheck(f, dy, {maxCoords: dy.size, atol: 1e-4, tol: 1e-4}));
            tf.dispose([x, g, dy]);
          },
          {checkLeaks: true},
        );
      });
    }

    it('tiny ConvNet MTT meta-gradient (2 unrolled steps, w.r.t. the images)', async () => {
      await withBackend(backend, () => {
        // conv 3x3 (pad 1) -> instance norm (affine) -> relu -> avgPool 2x2 -> dense -> cross-entropy.
        const shapes = [[3, 3, 2, 4], [4], [4], [4], [2 * 2 * 4, 3], [3]] as const;
        const size = shapes.reduce((s, sh) => s + sh.reduce((a: number, b: number) => a * b, 1), 0);
        const theta = randn([size], 11, 0.4);
        const images = randn([3, 4, 4, 2], 12);
        const inner: Inner = (flat, x) => {
          const take = taker(flat);
          const h = tf.add(tf.conv2d(x as tf.Tensor4D, take(shapes[0]) as tf.Tensor4D, 1, 'same'), take(shapes[1])) as tf.Tensor4D;
          const normed = tf.add(tf.mul(normalise(h, 4), take(shapes[2])), take(shapes[3])) as tf.Tensor4D;
          const pooled = tf.avgPool(tf.relu(normed), 2, 2, 'valid');
          const logits = tf.add(tf.matMul(tf.reshape(pooled, [3, 16]), take(shapes[4]) as tf.Tensor2D), take(shapes[5]));
          return crossEntropy(logits, [0, 1, 2]);
        };
        const r = gradgradcheck(inner, theta, images, {lr: 0.5, steps: 2, maxCoords: 16, target: theta});
        assertGradcheck('ConvNet meta-gradient', r);
        assert.ok(r.scale > 1e-3, `the meta-gradient should not vanish (scale ${r.scale})`);
        tf.dispose([theta, images]);
      });
    });
  });
}

/**
 * The fused norm backward kernels' own gradient (ml/fused-norm.ts normGradGrad, the double backward that trajectory
 * matching's inner steps go through on libtorch). f = <A, dx> + <Bg, dgamma> + <Bb, dbeta> of the backward pass
 * B(dy, x, gamma), with some of A, Bg, Bb absent as when an output is unused, differentiated in each of dy, x and
 * gamma: the closed form against finite differences of the composite formula on every backend, and where the backend
 * has the fused kernel, tf.grad through the kernel (its registered gradient) against finite differences of the kernel.
 */
describe('the norm backward pass differentiated (normGradGrad)', () => {
  const NORMS = [
    {label: 'instance norm', kernel: INSTANCE_NORM_GRAD, axes: [1, 2], shape: [2, 3, 4, 3]},
    {label: 'batch norm', kernel: BATCH_NORM_TRAIN_GRAD, axes: [0, 1, 2], shape: [3, 2, 3, 3]},
  ] as const;
  const USED = [
    {label: 'all outputs used', dx: true, dgamma: true, dbeta: true},
    {label: 'dx only', dx: true, dgamma: false, dbeta: false},
    {label: 'dgamma and dbeta only', dx: false, dgamma: true, dbeta: true},
  ] as const;
  const WRT = ['dy', 'x', 'gamma'] as const;
  const EPS = 1e-5;
  for (const backend of BACKENDS) {
    for (const norm of NORMS) {
      for (const used of USED) {
        it(`${norm.label}, ${used.label}, on ${backend}`, async () => {
          await withBackend(
            backend,
            () => {
              const c = norm.shape[3];
              const inputs = {dy: randn(norm.shape, 1), x: randn(norm.shape, 2, 1.5), gamma: tf.tidy(() => tf.add(randn([c], 3, 0.5), 1))};
              const a = used.dx ? randn(norm.shape, 4) : null;
              const bg = used.dgamma ? randn([c], 5) : null;
              const bb = used.dbeta ? randn([c], 6) : null;
              const objective = ([dx, dgamma, dbeta]: tf.Tensor[]): tf.Scalar => {
                let sum: tf.Tensor = tf.scalar(0);
                if (a !== null && dx !== undefined) sum = tf.add(sum, tf.sum(tf.mul(a, dx)));
                if (bg !== null && dgamma !== undefined) sum = tf.add(sum, tf.sum(tf.mul(bg, dgamma)));
                if (bb !== null && dbeta !== undefined) sum = tf.add(sum, tf.sum(tf.mul(bb, dbeta)));
                return sum as tf.Scalar;
              };
              const fused = tf.getKernel(norm.kernel, tf.getBackend()) !== undefined;
              for (const [i, wrt] of WRT.entries()) {
                const args = (v: tf.Tensor): [tf.Tensor, tf.Tensor, tf.Tensor] => [
                  wrt === 'dy' ? v : inputs.dy,
                  wrt === 'x' ? v : inputs.x,
                  wrt === 'gamma' ? v : inputs.gamma,
                ];
                const closedForm = tf.customGrad((...saveArgs: Array<tf.Tensor | tf.GradSaveFunc>) => {
                  const [dy, x, gamma] = args(saveArgs[0] as tf.Tensor);
                  return {
                    value: objective(compositeNormGrad(dy, x, gamma, EPS, norm.axes)),
                    gradFunc: (up: tf.Tensor) => tf.mul(up, normGradGrad(a, bg, bb, dy, x, gamma, EPS, norm.axes)[i] as tf.Tensor),
                  };
                }) as (v: tf.Tensor) => tf.Scalar;
                const opts = {maxCoords: 24, eps: 1e-2};
                assertGradcheck(`closed form d/d${wrt}`, gradcheck(closedForm, inputs[wrt], opts));
                if (fused) {
                  const throughKernel = (v: tf.Tensor): tf.Scalar => {
                    const [dy, x, gamma] = args(v);
                    return objective(tf.engine().runKernel(norm.kernel, {dy, x, gamma}, {eps: EPS}) as tf.Tensor[]);
                  };
                  assertGradcheck(`fused kernel d/d${wrt}`, gradcheck(throughKernel, inputs[wrt], opts));
                }
              }
              assert.equal(fused, backend === 'libtorch', 'the fused kernel is on libtorch only');
              tf.dispose([inputs.dy, inputs.x, inputs.gamma, ...[a, bg, bb].filter((t): t is tf.Tensor => t !== null)]);
            },
            {checkLeaks: true},
          );
        });
      }
    }
  }
});
