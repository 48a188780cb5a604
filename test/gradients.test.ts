/**
 * Every op the trajectory-matching inner loop uses, checked at first order (tf.grad vs finite differences) and at
 * second order (gradient through an unrolled SGD step, the MTT shape), on cpu and on wasm, with the registry fixes of
 * ml/grad-fixes.ts and the wasm kernels installed. Sizes are tiny: this file must stay well under a minute.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {logSoftmax, logSumExp, softmax} from '../ml/ops.js';
import {assertGradcheck, gradcheck, gradgradcheck, withBackend} from './util/gradcheck.js';
import type {GradgradcheckOptions, TestBackend} from './util/gradcheck.js';

const BACKENDS: readonly TestBackend[] = ['cpu', 'wasm'];

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
