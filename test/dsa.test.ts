import {describe, test, before} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import {
  DSA_FAMILIES,
  applyDsa,
  diffAugment,
  diffAugmentSiamese,
  parseStrategy,
  sampleDsa,
  type DsaDraw,
  type DsaOp,
} from '../ml/dsa.js';
import {createRng} from '../ml/rng.js';
import {crossEntropy} from '../ml/losses.js';
import {activateBackend} from '../ml/backend.js';
import {assertGradcheck, gradcheck, gradgradcheck} from './util/gradcheck.js';

before(async () => {
  assert.equal(await activateBackend('cpu'), undefined);
});

const one = (op: DsaOp): DsaDraw => ({families: [], ops: [op]});

function images(n: number, h: number, w: number, c: number, seed: number): tf.Tensor4D {
  return tf.tidy(() => tf.randomUniform([n, h, w, c], -1, 1, 'float32', seed) as tf.Tensor4D);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!);
}

describe('DSA', () => {
  test('every family keeps the shape, at 32x32 and 28x28', () => {
    for (const size of [32, 28]) {
      const x = images(3, size, size, size === 28 ? 1 : 3, 1);
      for (const family of DSA_FAMILIES) {
        const y = diffAugment(x, 5, {strategy: family});
        assert.deepEqual(y.shape, x.shape, family);
        tf.dispose(y);
      }
      x.dispose();
    }
  });

  test('crop and cutout sizes scale with the image (4 and 16 px at 32; 4 and 14 px at 28)', () => {
    const d32 = sampleDsa(createRng(3), 50, 32, 32, {strategy: 'crop_cutout', mode: 'M'});
    const crop = d32.ops[0];
    const cut = d32.ops[1];
    assert.ok(crop?.kind === 'crop' && cut?.kind === 'cutout');
    assert.ok(Math.max(...crop.tx.map(Math.abs)) <= 4 && Math.max(...crop.ty.map(Math.abs)) <= 4);
    assert.deepEqual(cut.size, [16, 16]);
    const d28 = sampleDsa(createRng(3), 4, 28, 28, {strategy: 'cutout'});
    assert.ok(d28.ops[0]?.kind === 'cutout');
    assert.deepEqual(d28.ops[0].size, [14, 14]);
  });

  test('zero parameters are the identity', () => {
    const x = images(2, 6, 5, 3, 2);
    const ops: DsaOp[] = [
      {kind: 'brightness', shift: new Float32Array([0])},
      {kind: 'saturation', factor: new Float32Array([1])},
      {kind: 'contrast', factor: new Float32Array([1])},
      {kind: 'crop', tx: new Int32Array([0]), ty: new Int32Array([0])},
      {kind: 'flip', flip: new Uint8Array([0])},
      {kind: 'scale', sx: new Float64Array([1]), sy: new Float64Array([1])},
      {kind: 'rotate', radians: new Float64Array([0])},
    ];
    for (const op of ops) assert.ok(maxAbsDiff(applyDsa(x, one(op)), x) < 1e-6, op.kind);
  });

  test('flip twice is the identity, and flip reverses the width axis', () => {
    const x = images(2, 4, 5, 2, 3);
    const f = one({kind: 'flip', flip: new Uint8Array([1, 1])});
    assert.equal(maxAbsDiff(applyDsa(applyDsa(x, f), f), x), 0);
    assert.equal(maxAbsDiff(applyDsa(x, f), tf.reverse(x, 2)), 0);
  });

  test('crop shifts with a zero border', () => {
    const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 3, 3, 1]);
    const y = applyDsa(x, one({kind: 'crop', tx: new Int32Array([1]), ty: new Int32Array([-1])}));
    // out[i, j] = x[i + 1, j - 1]
    assert.deepEqual(Array.from(y.dataSync()), [0, 4, 5, 0, 7, 8, 0, 0, 0]);
  });

  test('cutout zeroes a clipped square', () => {
    const x = tf.ones([1, 4, 4, 1]) as tf.Tensor4D;
    const y = applyDsa(x, one({kind: 'cutout', size: [2, 2], cx: new Int32Array([0]), cy: new Int32Array([2])}));
    // rows -1..0 -> 0, columns 1..2
    assert.deepEqual(Array.from(y.dataSync()), [1, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]);
  });

  test('a 90 degree rotation of a known image moves a pixel as the affine grid says', () => {
    // 5x5, one bright pixel at row 2, column 4 (normalised u = 1, v = 0). The output at (u, v) reads the input at
    // (-v, u), so the pixel lands where v = -1, u = 0: row 0, column 2.
    const data = new Float32Array(25);
    data[2 * 5 + 4] = 1;
    const x = tf.tensor4d(data, [1, 5, 5, 1]);
    const y = applyDsa(x, one({kind: 'rotate', radians: new Float64Array([Math.PI / 2])})).dataSync();
    const expected = new Float32Array(25);
    expected[0 * 5 + 2] = 1;
    for (let i = 0; i < 25; i++) assert.ok(Math.abs(y[i]! - expected[i]!) < 1e-5, `pixel ${i}: ${y[i]}`);
  });

  test('scale 2 zooms out, bilinear with zeros outside', () => {
    // 1x5 row [0, 1, 2, 3, 4], sx = 2: output at u reads input at 2u; u = -0.5 -> -1 (pixel 0), u = 0.5 -> pixel 4.
    const x = tf.tensor4d([0, 1, 2, 3, 4], [1, 1, 5, 1]);
    const y = applyDsa(x, one({kind: 'scale', sx: new Float64Array([2]), sy: new Float64Array([1])}));
    const v = Array.from(y.dataSync());
    assert.deepEqual(v.map((a) => Math.round(a * 1e5) / 1e5), [0, 0, 2, 4, 0]);
  });

  test('color: brightness, saturation and contrast match their formulas', () => {
    const x = images(2, 3, 3, 3, 4);
    const s = new Float32Array([0.5, 1.5]);
    const got = applyDsa(x, one({kind: 'saturation', factor: s}));
    const want = tf.tidy(() => {
      const m = tf.mean(x, 3, true);
      return tf.add(tf.mul(tf.sub(x, m), tf.tensor4d(s, [2, 1, 1, 1])), m);
    });
    assert.ok(maxAbsDiff(got, want) < 1e-6);
    const c = applyDsa(x, one({kind: 'contrast', factor: new Float32Array([0])}));
    const means = tf.mean(x, [1, 2, 3]).dataSync();
    const cv = c.dataSync();
    for (let i = 0; i < cv.length; i++) assert.ok(Math.abs(cv[i]! - means[Math.floor(i / 27)]!) < 1e-6);
  });

  test('reproducible with a seed; different seeds differ; mode S picks one family', () => {
    const x = images(4, 8, 8, 3, 5);
    for (let seed = 0; seed < 6; seed++) {
      assert.equal(maxAbsDiff(diffAugment(x, seed), diffAugment(x, seed)), 0);
      assert.equal(sampleDsa(createRng(seed), 4, 8, 8).families.length, 1);
    }
    const outs = [0, 1, 2, 3, 4, 5, 6, 7].map((s) => diffAugment(x, s));
    assert.ok(outs.some((o, i) => i > 0 && maxAbsDiff(o, outs[0]!) > 1e-3));
    assert.equal(sampleDsa(createRng(1), 4, 8, 8, {mode: 'M'}).families.length, 6);
  });

  test('Siamese: two batches get the same parameters', () => {
    const x = images(3, 8, 8, 3, 6);
    for (let seed = 0; seed < 6; seed++) {
      const [a, b] = diffAugmentSiamese(x, tf.clone(x), seed);
      assert.equal(maxAbsDiff(a, b), 0);
      // shared: the whole batch uses sample 0's parameters, so a batch of copies stays a batch of copies.
      const copies = tf.tile(tf.slice(x, [0], [1]), [3, 1, 1, 1]) as tf.Tensor4D;
      const [c] = diffAugmentSiamese(copies, tf.slice(x, [0], [1]), seed, {shared: true});
      assert.equal(maxAbsDiff(tf.slice(c, [1], [1]), tf.slice(c, [0], [1])), 0);
    }
    assert.throws(() => diffAugmentSiamese(x, tf.slice(x, [0], [2]), 1), /shared/);
  });

  test('an unknown family is reported', () => {
    const r = parseStrategy('color_zoom');
    assert.equal(r.ok, false);
    assert.throws(() => diffAugment(images(1, 4, 4, 1, 1), 1, {strategy: 'zoom'}), /zoom/);
  });

  test('no tensors leak', () => {
    const x = images(2, 8, 8, 3, 7);
    const before = tf.memory().numTensors;
    for (let s = 0; s < 8; s++) diffAugment(x, s).dispose();
    assert.equal(tf.memory().numTensors, before);
  });
});

describe('DSA gradients with respect to the images', () => {
  // Tiny images; a linear classifier on the augmented pixels, one (or two) unrolled SGD steps on its weights.
  const n = 2;
  const h = 5;
  const w = 5;
  const c = 2;
  const classes = 3;
  const x = images(n, h, w, c, 21);
  const wt = tf.tidy(() => tf.randomNormal([h * w * c * classes], 0, 0.3, 'float32', 22));
  const labels = tf.tensor1d([1, 2], 'int32');
  const ops: DsaOp[] = [
    {kind: 'brightness', shift: new Float32Array([0.2, -0.3])},
    {kind: 'saturation', factor: new Float32Array([0.4, 1.7])},
    {kind: 'contrast', factor: new Float32Array([0.6, 1.3])},
    {kind: 'crop', tx: new Int32Array([1, -2]), ty: new Int32Array([0, 1])},
    {kind: 'cutout', size: [2, 2], cx: new Int32Array([1, 4]), cy: new Int32Array([3, 0])},
    {kind: 'flip', flip: new Uint8Array([1, 0])},
    {kind: 'scale', sx: new Float64Array([1.13, 0.9]), sy: new Float64Array([0.87, 1.18])},
    {kind: 'rotate', radians: new Float64Array([0.21, -0.17])},
  ];
  const logits = (wv: tf.Tensor, xv: tf.Tensor, draw: DsaDraw): tf.Tensor2D =>
    tf.matMul(
      tf.reshape(applyDsa(xv as tf.Tensor4D, draw), [n, h * w * c]) as tf.Tensor2D,
      tf.reshape(wv, [h * w * c, classes]) as tf.Tensor2D,
    );

  for (const op of ops) {
    test(`${op.kind}: first and second order`, () => {
      const draw = one(op);
      assertGradcheck(
        `${op.kind} grad`,
        gradcheck((xv) => tf.sum(tf.square(applyDsa(xv as tf.Tensor4D, draw))), x, {maxCoords: 16}),
      );
      assertGradcheck(
        `${op.kind} gradgrad`,
        gradgradcheck((wv, xv) => crossEntropy(logits(wv, xv, draw), labels), wt, x, {maxCoords: 16, steps: 2}),
      );
    });
  }
});
