import {describe, test, before} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {crossEntropy, distillationLoss, kdLoss, logSoftmax, softCrossEntropy, stopGradient} from '../ml/losses.js';
import {activateBackend} from '../ml/backend.js';
import {assertGradcheck, gradgradcheck} from './util/gradcheck.js';

/** log-softmax of a row in float64, for reference values. */
function refLogSoftmax(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
  return row.map((v) => v - lse);
}

function close(actual: number, expected: number, tol = 1e-5): void {
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} != ${expected} (tol ${tol})`);
}

before(async () => {
  const reason = await activateBackend('cpu');
  assert.equal(reason, undefined);
});

describe('cross-entropy', () => {
  test('matches hand-computed values (mean over the batch)', () => {
    const logits = tf.tensor2d([
      [1, 2, 3],
      [1, 1, 1],
    ]);
    const labels = tf.tensor1d([2, 0], 'int32');
    // Row 0: log(1 + e^-1 + e^-2) = 0.4076059644; row 1: log 3 = 1.0986122887.
    close(crossEntropy(logits, labels).dataSync()[0]!, (0.4076059644 + 1.0986122887) / 2);
    tf.dispose([logits, labels]);
  });

  test('log-softmax is stable for large logits', () => {
    const out = logSoftmax(tf.tensor2d([[1000, 0, -1000]])).arraySync()[0]!;
    close(out[0]!, 0);
    close(out[1]!, -1000, 1e-3);
    assert.ok(Number.isFinite(out[2]!));
  });

  test('soft cross-entropy with one-hot targets equals cross-entropy', () => {
    const logits = tf.tensor2d([
      [0.3, -1.2, 2.0],
      [1.5, 0.1, -0.4],
    ]);
    const hard = crossEntropy(logits, tf.tensor1d([1, 0], 'int32')).dataSync()[0]!;
    const soft = softCrossEntropy(logits, tf.tensor2d([
      [0, 1, 0],
      [1, 0, 0],
    ])).dataSync()[0]!;
    close(soft, hard, 1e-6);
  });
});

describe('Hinton KD', () => {
  const s = [
    [1, 2, 3],
    [0.5, -0.5, 0],
  ];
  const t = [
    [3, 2, 1],
    [0, 0, 2],
  ];
  const temperature = 2;
  // T^2 * sum_b sum_c p_t (log p_t - log p_s) / B, with the reduction written out by hand.
  const expected =
    (temperature ** 2 *
      s.reduce((acc, row, b) => {
        const lt = refLogSoftmax(t[b]!.map((v) => v / temperature));
        const ls = refLogSoftmax(row.map((v) => v / temperature));
        return acc + lt.reduce((a, l, c) => a + Math.exp(l) * (l - ls[c]!), 0);
      }, 0)) /
    s.length;

  test('is T^2 * KL with batchmean reduction (sum over classes, divided by B only)', () => {
    const value = kdLoss(tf.tensor2d(s), tf.tensor2d(t), temperature).dataSync()[0]!;
    close(value, expected);
    // Dividing by B * C instead (the pitfall) would give a value 3x smaller.
    assert.ok(Math.abs(value - expected / 3) > 0.1);
  });

  test('is zero when the student equals the teacher', () => {
    const x = tf.tensor2d(t);
    close(kdLoss(x, x, 4).dataSync()[0]!, 0, 1e-6);
  });

  test('the teacher logits get no gradient', () => {
    const st = tf.tensor2d(s);
    const g = tf.grad((tt: tf.Tensor) => kdLoss(st, tt as tf.Tensor2D, temperature))(tf.tensor2d(t));
    assert.deepEqual(Array.from(g.dataSync()), [0, 0, 0, 0, 0, 0]);
    const v = stopGradient(tf.tensor1d([1, 2]));
    assert.deepEqual(Array.from(v.dataSync()), [1, 2]);
  });

  test('the combined loss: alpha = 0 is exactly CE, alpha = 1 is KD, and in between the mix', () => {
    const st = tf.tensor2d(s);
    const tt = tf.tensor2d(t);
    const labels = tf.tensor1d([2, 1], 'int32');
    const ce = crossEntropy(st, labels).dataSync()[0]!;
    const kd = kdLoss(st, tt, temperature).dataSync()[0]!;
    assert.equal(distillationLoss(st, labels, tt, {alpha: 0, temperature}).dataSync()[0], ce);
    assert.equal(distillationLoss(st, labels, undefined, {alpha: 0, temperature}).dataSync()[0], ce);
    assert.equal(distillationLoss(st, labels, tt, {alpha: 1, temperature}).dataSync()[0], kd);
    close(distillationLoss(st, labels, tt, {alpha: 0.25, temperature}).dataSync()[0]!, 0.75 * ce + 0.25 * kd);
    assert.throws(() => distillationLoss(st, labels, undefined, {alpha: 0.5, temperature}), /teacher/);
  });
});

describe('second order inside an MTT-style inner step', () => {
  // A linear student: logits = x @ reshape(w, [F, C]); the outer gradient is taken with respect to the inputs x
  // through one (and two) unrolled SGD steps on w.
  const B = 4;
  const F = 5;
  const C = 3;
  const x = tf.tidy(() => tf.randomNormal([B, F], 0, 1, 'float32', 11));
  const w = tf.tidy(() => tf.randomNormal([F * C], 0, 0.5, 'float32', 12));
  const labels = tf.tensor1d([0, 2, 1, 2], 'int32');
  const teacher = tf.tidy(() => tf.randomNormal([B, C], 0, 2, 'float32', 13) as tf.Tensor2D);
  const student = (wv: tf.Tensor, xv: tf.Tensor): tf.Tensor2D => tf.matMul(xv as tf.Tensor2D, tf.reshape(wv, [F, C]) as tf.Tensor2D);

  test('cross-entropy', () => {
    assertGradcheck('CE', gradgradcheck((wv, xv) => crossEntropy(student(wv, xv), labels), w, x, {steps: 2}));
  });

  test('KD (T = 4) and the combined loss', () => {
    assertGradcheck('KD', gradgradcheck((wv, xv) => kdLoss(student(wv, xv), teacher, 4), w, x, {lr: 2}));
    assertGradcheck(
      'CE+KD',
      gradgradcheck((wv, xv) => distillationLoss(student(wv, xv), labels, teacher, {alpha: 0.5, temperature: 3}), w, x),
    );
  });
});
