/**
 * Backend selection (fallback with reasons) and the wasm training kernels against the cpu backend's reference
 * kernels, including that they free their intermediates.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {createRequire} from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import type {NamedAttrMap, NamedTensorMap} from '@tensorflow/tfjs-core';
import {activateBackend, initBackend} from '../ml/backend.js';
import {withBackend} from './util/gradcheck.js';
import type {TestBackend} from './util/gradcheck.js';

const require = createRequire(import.meta.url);

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** Seeded uniform data, identical on every backend. */
function data(shape: readonly number[], seed: number): Float32Array {
  let s = seed >>> 0;
  const out = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < out.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 32 - 0.5;
  }
  return out;
}

/** Runs one kernel on a backend from plain arrays and returns its output values and shape. */
async function runOn(
  backend: TestBackend,
  kernel: string,
  inputs: Record<string, {shape: readonly number[]; values: Float32Array | Int32Array}>,
  attrs: NamedAttrMap,
): Promise<{values: Float32Array; shape: number[]}> {
  return withBackend(backend, () => {
    const named: NamedTensorMap = {};
    for (const [k, v] of Object.entries(inputs)) {
      named[k] = tf.tensor(v.values, [...v.shape], v.values instanceof Int32Array ? 'int32' : 'float32');
    }
    const dataIdsBefore = tf.engine().backend.numDataIds();
    const out = tf.engine().runKernel(kernel, named, attrs) as tf.Tensor;
    // Kernel intermediates live below the engine; only the output may remain.
    assert.equal(tf.engine().backend.numDataIds(), dataIdsBefore + 1, `${kernel} on ${backend} leaked intermediates`);
    const result = {values: Float32Array.from(out.dataSync()), shape: out.shape};
    tf.dispose([out, ...Object.values(named)]);
    return result;
  });
}

async function assertSameOnBothBackends(
  kernel: string,
  inputs: Record<string, {shape: readonly number[]; values: Float32Array | Int32Array}>,
  attrs: NamedAttrMap,
): Promise<void> {
  const cpu = await runOn('cpu', kernel, inputs, attrs);
  const wasm = await runOn('wasm', kernel, inputs, attrs);
  assert.deepEqual(wasm.shape, cpu.shape);
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < cpu.values.length; i++) {
    worst = Math.max(worst, Math.abs((cpu.values[i] ?? 0) - (wasm.values[i] ?? 0)));
    scale = Math.max(scale, Math.abs(cpu.values[i] ?? 0));
  }
  assert.ok(worst <= 1e-4 * Math.max(1, scale), `${kernel}: max difference ${worst} (scale ${scale})`);
}

describe('backend selection', () => {
  it('activateBackend explains why a native backend is unavailable', async () => {
    const reason = await activateBackend('tensorflow');
    if (installed('@tensorflow/tfjs-node')) {
      assert.equal(reason, undefined);
    } else {
      assert.match(reason ?? '', /@tensorflow\/tfjs-node/);
    }
  });

  it('initBackend honours DISTILLERY_BACKEND and falls back with a reason', async () => {
    const info = await initBackend({DISTILLERY_BACKEND: 'tensorflow-gpu'});
    assert.match(info.tfjsVersion, /^\d+\.\d+\.\d+/);
    assert.equal(tf.getBackend(), info.kind === 'tensorflow-gpu' || info.kind === 'tensorflow' ? 'tensorflow' : info.kind);
    if (!installed('@tensorflow/tfjs-node-gpu')) {
      assert.notEqual(info.kind, 'tensorflow-gpu');
      assert.equal(info.fallbacks[0]?.kind, 'tensorflow-gpu');
      assert.match(info.fallbacks[0]?.reason ?? '', /tfjs-node-gpu/);
    }
    if (!installed('@tensorflow/tfjs-node-gpu') && !installed('@tensorflow/tfjs-node')) assert.equal(info.kind, 'wasm');
    // A process has one backend: later calls return the first result.
    assert.equal(await initBackend({DISTILLERY_BACKEND: 'cpu'}), info);
  });

  it('a node must not run on a backend other than the one its key was planned with', async () => {
    if (installed('@tensorflow/tfjs-node-gpu')) return; // the forced backend below would load: nothing to check
    const {initPlannedBackend} = await import('../ml/backend.js');
    // This process already has a backend; the planned-backend check only looks at the fallbacks of that first result.
    await assert.rejects(initPlannedBackend({DISTILLERY_BACKEND: 'tensorflow-gpu'}), /tensorflow-gpu backend was planned.*DISTILLERY_BACKEND=/);
    const {probeBackend} = await import('../ml/backend-probe.js');
    // A native package without its binding (an offline install) is not planned for.
    assert.notEqual(probeBackend({}).kind, 'tensorflow-gpu');
  });

  it('rejects an unknown DISTILLERY_BACKEND by name', async () => {
    const {probeBackend} = await import('../ml/backend-probe.js');
    assert.throws(() => probeBackend({DISTILLERY_BACKEND: 'tpu'}), /DISTILLERY_BACKEND=tpu/);
  });
});

describe('wasm training kernels match the cpu backend', () => {
  const filterCases: Array<{x: number[]; f: number[]; strides: number | [number, number]; pad: NamedAttrMap[string]}> = [
    {x: [3, 8, 8, 4], f: [3, 3, 4, 5], strides: 1, pad: 'same'},
    {x: [3, 8, 8, 4], f: [3, 3, 4, 5], strides: 2, pad: 'same'},
    {x: [2, 9, 9, 3], f: [3, 3, 3, 4], strides: 2, pad: 'valid'},
    {x: [2, 7, 7, 2], f: [3, 3, 2, 3], strides: 1, pad: 3},
    {x: [2, 7, 6, 2], f: [3, 2, 2, 3], strides: 1, pad: [[0, 0], [1, 2], [2, 0], [0, 0]]},
    {x: [2, 8, 8, 3], f: [1, 1, 3, 4], strides: 2, pad: 'valid'},
    // More than 64 patch rows: the transposed-convolution path (the cases above take the im2col path).
    {x: [2, 6, 6, 8], f: [3, 3, 8, 4], strides: 1, pad: 'same'},
    {x: [2, 7, 7, 8], f: [3, 3, 8, 4], strides: 2, pad: 3},
    // Sub-pixel decomposition of the strided input gradient: odd sizes, larger kernels, stride 3, mixed strides.
    {x: [2, 7, 7, 3], f: [3, 3, 3, 4], strides: 2, pad: 'same'},
    {x: [2, 8, 6, 3], f: [5, 5, 3, 2], strides: 2, pad: 2},
    {x: [2, 9, 9, 2], f: [3, 3, 2, 3], strides: 3, pad: 'valid'},
    {x: [2, 6, 5, 3], f: [3, 3, 3, 2], strides: [2, 1], pad: 'same'},
    // A batch above the 64-image chunk of the transposed-convolution path.
    {x: [150, 4, 4, 8], f: [3, 3, 8, 4], strides: 1, pad: 'same'},
  ];
  for (const [i, c] of filterCases.entries()) {
    const label = `stride ${c.strides}, pad ${JSON.stringify(c.pad)}, filter ${c.f.join('x')}`;
    // Output shape of the forward conv, from the cpu reference itself.
    const outShape = tf.backend_util.computeConv2DInfo(
      c.x as [number, number, number, number],
      c.f as [number, number, number, number],
      c.strides,
      1,
      c.pad as 'same',
    ).outShape;
    it(`Conv2DBackpropFilter, ${label}`, async () => {
      await assertSameOnBothBackends(
        'Conv2DBackpropFilter',
        {x: {shape: c.x, values: data(c.x, 10 + i)}, dy: {shape: outShape, values: data(outShape, 20 + i)}},
        {strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.f},
      );
    });
    it(`Conv2DBackpropInput, ${label}`, async () => {
      await assertSameOnBothBackends(
        'Conv2DBackpropInput',
        {dy: {shape: outShape, values: data(outShape, 30 + i)}, filter: {shape: c.f, values: data(c.f, 40 + i)}},
        {strides: c.strides, pad: c.pad, dataFormat: 'NHWC', inputShape: c.x},
      );
    });
  }

  it('UnsortedSegmentSum (the gradient of gather)', async () => {
    await assertSameOnBothBackends(
      'UnsortedSegmentSum',
      {x: {shape: [5, 3], values: data([5, 3], 7)}, segmentIds: {shape: [5], values: Int32Array.from([2, 0, 2, -1, 3])}},
      {numSegments: 4},
    );
  });

  for (const [i, axis] of [[0, 1, 2], [1, 2], [1], [3], [0, 2]].entries()) {
    for (const kernel of ['Sum', 'Mean']) {
      it(`${kernel} over axes ${axis.join(',')} (keepDims ${i % 2 === 0})`, async () => {
        await assertSameOnBothBackends(kernel, {x: {shape: [3, 5, 4, 6], values: data([3, 5, 4, 6], 50 + i)}}, {axis, keepDims: i % 2 === 0});
      });
    }
  }

  for (const [i, c] of [
    {x: [2, 6, 4, 3], size: 2, strides: 2, pad: 'valid'},
    {x: [2, 7, 5, 3], size: 2, strides: 2, pad: 'valid'},
    {x: [2, 6, 6, 3], size: 3, strides: 1, pad: 'same'},
  ].entries()) {
    it(`AvgPoolGrad ${c.size}x${c.size} stride ${c.strides} ${c.pad} on ${c.x.join('x')}`, async () => {
      const info = tf.backend_util.computePool2DInfo(c.x as [number, number, number, number], c.size, c.strides, 1, c.pad as 'valid');
      await assertSameOnBothBackends(
        'AvgPoolGrad',
        {dy: {shape: info.outShape, values: data(info.outShape, 60 + i)}, input: {shape: c.x, values: data(c.x, 70 + i)}},
        {filterSize: c.size, strides: c.strides, pad: c.pad},
      );
    });
  }

  it('Identity and same-dtype Cast share data on wasm; clones outlive their source', async () => {
    await withBackend('wasm', () => {
      const x = tf.tensor2d([1.5, -2, 3, 4], [2, 2]);
      const ids = tf.engine().backend.numDataIds();
      const copy = tf.clone(x);
      const same = tf.cast(x, 'float32');
      assert.equal(tf.engine().backend.numDataIds(), ids, 'no new buffers');
      const asInt = tf.cast(x, 'int32');
      x.dispose();
      assert.deepEqual(Array.from(copy.dataSync()), [1.5, -2, 3, 4]);
      assert.deepEqual(Array.from(same.dataSync()), [1.5, -2, 3, 4]);
      assert.deepEqual(Array.from(asInt.dataSync()), [1, -2, 3, 4]);
      tf.dispose([copy, same, asInt]);
    });
  });

  it('a conv training step on wasm leaves no tensors behind', async () => {
    await withBackend(
      'wasm',
      () => {
        const x = tf.tensor4d(data([2, 8, 8, 3], 1), [2, 8, 8, 3]);
        const w = tf.tensor4d(data([3, 3, 3, 4], 2), [3, 3, 3, 4]);
        const before = tf.engine().backend.numDataIds();
        for (let k = 0; k < 3; k++) {
          const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
            tf.sum(tf.square(tf.avgPool(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same'), 2, 2, 'valid'))),
          )([x, w]);
          tf.dispose(grads);
          const gw = tf.grad((v: tf.Tensor) => tf.sum(tf.square(tf.conv2d(x, v as tf.Tensor4D, 2, 'same'))))(w);
          gw.dispose();
        }
        assert.equal(tf.engine().backend.numDataIds(), before);
        tf.dispose([x, w]);
      },
      {checkLeaks: true},
    );
  });
});
