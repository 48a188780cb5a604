/**
 * ml/lean-backprop.ts: the outermost backward pass releases each node's saved tensors and used-up gradients as it
 * goes (so a long unrolled tape peaks at about its own size), and still gives tfjs's gradients, leaks nothing and
 * leaves the caller's tensors alone. The second-order suites (test/gradients.test.ts, test/mtt.test.ts) run through
 * it too.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {withBackend} from './util/gradcheck.js';
import type {TestBackend} from './util/gradcheck.js';

const BACKENDS: readonly TestBackend[] = ['cpu', 'libtorch'];
const SIZE = 10_000;
const CHAIN = 30;

/** A probe that is the identity forward and, when its gradient runs (last in the backward pass), records the bytes alive. */
function probe(seen: number[]): (x: tf.Tensor) => tf.Tensor {
  return tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const x = args[0] as tf.Tensor;
    return {
      value: tf.clone(x),
      gradFunc: (dy: tf.Tensor) => {
        seen.push(tf.memory().numBytes);
        return dy;
      },
    };
  }) as (x: tf.Tensor) => tf.Tensor;
}

for (const backend of BACKENDS) {
  describe(`lean backward pass on ${backend}`, () => {
    it(`a chain of ${CHAIN} ops holds a few tensors, not the whole tape, when the pass reaches its start`, async () => {
      await withBackend(
        backend,
        () => {
          const x = tf.randomNormal([SIZE], 0, 1, 'float32', 1);
          const seen: number[] = [];
          const before = tf.memory().numBytes;
          const f = (v: tf.Tensor): tf.Scalar => {
            let h = probe(seen)(v);
            for (let i = 0; i < CHAIN; i++) h = tf.sin(tf.mul(h, 1.01));
            return tf.sum(h);
          };
          const g = tf.grad(f)(x);
          assert.equal(seen.length, 1, 'the probe ran once');
          // tfjs's own pass holds every saved input and every intermediate gradient of the chain at that point
          // (about 3 * CHAIN tensors of SIZE floats); the lean pass holds x, the incoming gradient and a few more.
          const held = ((seen[0] ?? 0) - before) / (SIZE * 4);
          assert.ok(held <= 6, `tensors of the chain's size alive at the end of the pass: ${held.toFixed(1)}`);
          // The value is tfjs's: d/dx of sin(1.01 sin(1.01 ... x)) by the chain rule in float64.
          const xs = x.dataSync();
          const gs = g.dataSync();
          for (const i of [0, 17, SIZE - 1]) {
            let h = xs[i] ?? 0;
            let d = 1;
            for (let k = 0; k < CHAIN; k++) {
              d *= 1.01 * Math.cos(1.01 * h);
              h = Math.sin(1.01 * h);
            }
            assert.ok(Math.abs((gs[i] ?? NaN) - d) <= 1e-4 * Math.max(1, Math.abs(d)), `gradient at ${i}: ${gs[i]} vs ${d}`);
          }
          tf.dispose([x, g]);
        },
        {checkLeaks: true},
      );
    });

    it('keeps the caller’s dy, handles reused inputs, constants without gradients and gradients that return dy', async () => {
      await withBackend(
        backend,
        () => {
          const x = tf.tensor1d([0.5, -1, 2]);
          const w = tf.tensor1d([3, 1, -2]);
          const dy = tf.tensor1d([1, 2, 3]);
          const passThrough = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => ({
            value: tf.mul(args[0] as tf.Tensor, 1),
            gradFunc: (d: tf.Tensor) => d,
          })) as (t: tf.Tensor) => tf.Tensor;
          const {value, grads} = tf.valueAndGrads((a: tf.Tensor, b: tf.Tensor) => {
            // a * a reuses an input; the one-hot branch has no gradient and does not depend on a or b.
            const constant = tf.cast(tf.sum(tf.oneHot(tf.tensor1d([0, 2, 1], 'int32'), 3), 1), 'float32');
            return tf.add(tf.mul(passThrough(tf.mul(a, a)), b), constant);
          })([x, w], dy);
          assert.deepEqual([...value.dataSync()], [0.75 + 1, 1 + 1, -8 + 1]);
          // d/da = 2 a b dy, d/db = a^2 dy.
          assert.deepEqual([...(grads[0] as tf.Tensor).dataSync()], [3, -4, -24]);
          assert.deepEqual([...(grads[1] as tf.Tensor).dataSync()], [0.25, 2, 12]);
          assert.equal(dy.isDisposed, false, "the caller's dy is not disposed");
          assert.deepEqual([...dy.dataSync()], [1, 2, 3]);
          tf.dispose([x, w, dy, value, ...grads]);
        },
        {checkLeaks: true},
      );
    });

    it('still refuses a function that does not depend on x, as tfjs does', async () => {
      await withBackend(backend, () => {
        const x = tf.scalar(1);
        assert.throws(() => tf.grad(() => tf.scalar(2))(x), /Cannot compute gradient of y=f\(x\)/);
        x.dispose();
      });
    });
  });
}
