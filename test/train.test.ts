import {describe, test, before} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {convNet} from '../ml/convnet.js';
import {resNet} from '../ml/resnet.js';
import {evaluate} from '../ml/evaluate.js';
import {referenceEvalSchedule, teacherFromModel, train, type TrainOptions} from '../ml/train.js';
import {crossEntropy} from '../ml/losses.js';
import type {FunctionalModel} from '../ml/model.js';
import {activateBackend} from '../ml/backend.js';

before(async () => {
  assert.equal(await activateBackend('cpu'), undefined);
});

/**
 * A separable toy problem: 4 classes of 8x8x1 images; class k has a bright 4x4 quadrant k, plus noise.
 * Generated from a seed so the tests need no files.
 */
function quadrants(n: number, seed: number): {x: tf.Tensor4D; y: tf.Tensor1D} {
  let s = seed >>> 0;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
  const data = new Float32Array(n * 64);
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const k = i % 4;
    labels[i] = k;
    const r0 = k < 2 ? 0 : 4;
    const c0 = k % 2 === 0 ? 0 : 4;
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const on = r >= r0 && r < r0 + 4 && c >= c0 && c < c0 + 4;
        data[i * 64 + r * 8 + c] = (on ? 1 : -0.5) + (rand() - 0.5) * 0.6;
      }
    }
  }
  return {x: tf.tensor4d(data, [n, 8, 8, 1]), y: tf.tensor1d(labels, 'int32')};
}

/** A linear classifier on flattened pixels, to check the optimiser arithmetic exactly. */
function linearModel(features: number, classes: number): FunctionalModel {
  return {
    numParams: features * classes,
    params: [{name: 'w', shape: [features, classes]}],
    init: (seed) => tf.randomNormal([features * classes], 0, 0.1, 'float32', seed) as tf.Tensor1D,
    forward: (flat, x) =>
      tf.tidy(() => tf.matMul(tf.reshape(x, [x.shape[0], features]) as tf.Tensor2D, tf.reshape(flat, [features, classes]) as tf.Tensor2D)),
  };
}

describe('train', () => {
  const data = quadrants(64, 1);
  const test_ = quadrants(32, 2);
  const model = convNet({width: 8, depth: 2, channels: 1, imageSize: 8, classes: 4});

  test('a width-8 ConvNet learns a separable problem in a few epochs, with snapshots and no leaks', async () => {
    const init = model.init(3);
    const snapshots: Float32Array[] = [];
    const tensorsAtSnapshot: number[] = [];
    const fractions: number[] = [];
    const result = await train({
      model,
      params: init,
      x: data.x,
      y: data.y,
      epochs: 5,
      batchSize: 16,
      lr: 0.05,
      momentum: 0.9,
      weightDecay: 5e-4,
      seed: 7,
      onSnapshot: async (epoch, p) => {
        assert.equal(epoch, snapshots.length);
        snapshots.push(Float32Array.from(await p.data()));
        tensorsAtSnapshot.push(tf.memory().numTensors);
      },
      onProgress: (f) => fractions.push(f),
    });
    assert.equal(snapshots.length, 6);
    assert.deepEqual(snapshots[0], Float32Array.from(init.dataSync()));
    assert.deepEqual(snapshots[5], Float32Array.from(result.params.dataSync()));
    // Flat across epochs: nothing accumulates from one epoch to the next (the momentum buffer appears after the first
    // step, so entry 0 has one tensor fewer).
    assert.equal(tensorsAtSnapshot[0]! + 1, tensorsAtSnapshot[1]);
    assert.ok(tensorsAtSnapshot.slice(1).every((t) => t === tensorsAtSnapshot[1]), `tensors: ${tensorsAtSnapshot.join(', ')}`);
    assert.equal(fractions.length, 5 * 4);
    assert.equal(fractions.at(-1), 1);
    assert.ok(result.history[4]!.loss < result.history[0]!.loss);
    const ev = await evaluate(model, result.params, test_.x, test_.y, 10);
    assert.ok(ev.accuracy >= 0.9, `test accuracy ${ev.accuracy}`);
    assert.equal(ev.count, 32);
    tf.dispose([init, result.params, result.buffers]);
  });

  test('is deterministic in the seed, with DSA on', async () => {
    const init = model.init(4);
    const opts: TrainOptions = {model, params: init, x: data.x, y: data.y, epochs: 1, batchSize: 32, lr: 0.01, seed: 9, dsa: {}};
    const a = await train(opts);
    const b = await train(opts);
    const c = await train({...opts, seed: 10});
    assert.deepEqual(a.params.dataSync(), b.params.dataSync());
    assert.notDeepEqual(a.params.dataSync(), c.params.dataSync());
    tf.dispose([init, a.params, b.params, c.params, a.buffers, b.buffers, c.buffers]);
  });

  test('SGD follows PyTorch: d = g + wd w, v = m v + d, w -= lr v; decay x0.1 resets momentum', async () => {
    const lin = linearModel(64, 4);
    const w0 = lin.init(1);
    const [lr, m, wd] = [0.1, 0.9, 0.01];
    // Full batch, so shuffling does not change the gradient (up to summation order).
    const r = await train({
      model: lin,
      params: w0,
      x: data.x,
      y: data.y,
      epochs: 3,
      batchSize: 64,
      lr,
      momentum: m,
      weightDecay: wd,
      lrDecayEpochs: [2],
      seed: 1,
    });
    const grad = tf.grad((w: tf.Tensor) => crossEntropy(lin.forward(w as tf.Tensor1D, data.x), data.y));
    let w = w0;
    let v: tf.Tensor | undefined;
    for (let e = 0; e < 3; e++) {
      const stepLr = e >= 2 ? lr * 0.1 : lr;
      if (e === 2) v = undefined;
      const d = tf.add(grad(w), tf.mul(w, wd));
      v = v === undefined ? d : tf.add(tf.mul(v, m), d);
      w = tf.sub(w, tf.mul(v, stepLr)) as tf.Tensor1D;
    }
    const diff = tf.max(tf.abs(tf.sub(r.params, w))).dataSync()[0]!;
    assert.ok(diff < 1e-5, `max difference ${diff}`);
    assert.deepEqual(r.history.map((h) => h.lr), [lr, lr, lr * 0.1].map((x) => x));
  });

  test('the reference evaluation schedule: Epoch + 1 passes, decay at Epoch // 2 + 1', () => {
    assert.deepEqual(referenceEvalSchedule(1000), {epochs: 1001, lrDecayEpochs: [501]});
  });

  test('aborts between batches without leaking', async () => {
    const before = tf.memory().numTensors;
    const controller = new AbortController();
    await assert.rejects(
      train({
        model,
        params: model.init(1),
        x: data.x,
        y: data.y,
        epochs: 3,
        batchSize: 16,
        lr: 0.01,
        seed: 1,
        signal: controller.signal,
        onProgress: (f) => {
          if (f > 0.3) controller.abort();
        },
      }),
      (e: unknown) => e instanceof Error && e.name === 'AbortError',
    );
    // The init tensor passed in is the only one left over (it belongs to the caller).
    assert.equal(tf.memory().numTensors, before + 1);
  });

  test('KD: the teacher sees the same augmented batch; alpha = 0 trains exactly like CE', async () => {
    const init = model.init(5);
    const seen: {student: number[][]; teacher: number[][]} = {student: [], teacher: []};
    const spy: typeof model = {
      ...model,
      forwardTrain: (p, b, x) => {
        seen.student.push(Array.from(x.dataSync()));
        return model.forwardTrain(p, b, x);
      },
    };
    const teacherNet = convNet({width: 4, depth: 1, channels: 1, imageSize: 8, classes: 4});
    const tParams = teacherNet.init(6);
    const teacher = teacherFromModel(teacherNet, tParams);
    const kd = await train({
      model: spy,
      params: init,
      x: data.x,
      y: data.y,
      epochs: 1,
      batchSize: 32,
      lr: 0.01,
      seed: 2,
      dsa: {strategy: 'crop_rotate'},
      kd: {
        alpha: 0.5,
        temperature: 4,
        teacher: {
          logits: (x) => {
            seen.teacher.push(Array.from(x.dataSync()));
            return teacher.logits(x);
          },
        },
      },
    });
    assert.equal(seen.teacher.length, 2);
    assert.deepEqual(seen.teacher, seen.student);
    const base = {model, params: init, x: data.x, y: data.y, epochs: 1, batchSize: 32, lr: 0.01, seed: 2};
    const ce = await train(base);
    const alpha0 = await train({...base, kd: {alpha: 0, temperature: 4, teacher}});
    assert.deepEqual(alpha0.params.dataSync(), ce.params.dataSync());
    assert.notDeepEqual(kd.params.dataSync(), ce.params.dataSync());
    tf.dispose([init, tParams, kd.params, ce.params, alpha0.params, kd.buffers, ce.buffers, alpha0.buffers]);
  });

  test('a batch-norm ResNet-18 (w = 1/16) updates its running statistics and evaluates in eval mode', async () => {
    const net = resNet({depth: 18, channels: 1, classes: 4, widthMultiplier: 1 / 16});
    const init = net.init(1);
    const r = await train({model: net, params: init, x: data.x, y: data.y, epochs: 2, batchSize: 32, lr: 0.05, momentum: 0.9, seed: 3});
    assert.equal(r.buffers.size, net.numBuffers);
    const b0 = net.initBuffers();
    assert.ok(tf.max(tf.abs(tf.sub(r.buffers, b0))).dataSync()[0]! > 1e-3);
    const ev = await evaluate(net, r.params, test_.x, test_.y, 16, {buffers: r.buffers});
    assert.equal(ev.confusion.length, 4);
    assert.equal(ev.confusion.flat().reduce((a, b) => a + b, 0), 32);
    tf.dispose([init, b0, r.params, r.buffers]);
  });
});

describe('evaluate', () => {
  test('accuracy, per-class accuracy and the confusion matrix', async () => {
    // Logits = the image's two pixels, so the prediction is the brighter pixel.
    const lin: FunctionalModel = {
      numParams: 1,
      params: [{name: 'unused', shape: [1]}],
      init: () => tf.zeros([1]) as tf.Tensor1D,
      forward: (_p, x) => tf.reshape(x, [x.shape[0], 2]) as tf.Tensor2D,
    };
    const x = tf.tensor4d([1, 0, 0, 1, 1, 0, 0, 1, 1, 0], [5, 1, 2, 1]);
    const y = tf.tensor1d([0, 1, 1, 0, 0], 'int32');
    const ev = await evaluate(lin, tf.zeros([1]) as tf.Tensor1D, x, y, 2);
    assert.equal(ev.accuracy, 3 / 5);
    assert.deepEqual(ev.confusion, [
      [2, 1],
      [1, 1],
    ]);
    assert.deepEqual(ev.perClassAccuracy, [2 / 3, 1 / 2]);
  });
});
