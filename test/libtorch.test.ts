/**
 * The libtorch backend as a whole: that the build made it and the probe picks it, that results are bit-identical run
 * to run (and why the thread count is part of keys), that memory goes back and is reused, and that kernel failures
 * and unsupported dtypes are clear errors, not crashes. Kernel-by-kernel checks are in libtorch-kernels.test.ts.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {mkdtemp, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import {DEFAULT_TORCH_THREADS, probeBackend, torchThreadCount} from '../ml/backend-probe.js';
import {convNet} from '../ml/convnet.js';
import {crossEntropy} from '../ml/losses.js';
import {loadTorchBinding, nativeBuildStatus, readBuildStatus} from '../ml/libtorch/native-binding.js';
import {withBackend} from './util/gradcheck.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

interface ChildReport {
  readonly kind: string;
  readonly libtorch: {readonly version: string; readonly threads: number; readonly device: string} | null;
  readonly first: string;
  readonly second: string;
}

function gradientInChild(env: NodeJS.ProcessEnv): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', TSX, 'test/fixtures/torch-gradient.ts'],
      {cwd: REPO, env: {...process.env, ...env}, timeout: 120_000},
      (error, stdout, stderr) => {
        if (error !== null) return reject(new Error(`child failed: ${error.message}\n${stderr}`));
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ChildReport);
      },
    );
  });
}

describe('libtorch backend', () => {
  it('was built by npm install, and the probe picks it first', () => {
    const status = nativeBuildStatus();
    assert.equal(status.built, true, `the libtorch addon is not built: ${status.reason ?? ''}`);
    const probe = probeBackend({});
    assert.equal(probe.kind, 'libtorch');
    assert.match(probe.libtorch ?? '', /^\d+\.\d+\.\d+\+(cpu|cuda) addon [0-9a-f]{16}$/);
    assert.equal(probe.threads, DEFAULT_TORCH_THREADS);
  });

  it('a missing or failed build explains itself', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distillery-torch-status-'));
    assert.match(readBuildStatus(join(dir, 'none.node'), join(dir, 'none.json')).reason ?? '', /never built/);
    await writeFile(join(dir, 'status.json'), JSON.stringify({built: false, reason: 'no libtorch found: install libtorch-dev'}));
    assert.deepEqual(readBuildStatus(join(dir, 'none.node'), join(dir, 'status.json')), {
      built: false,
      reason: 'no libtorch found: install libtorch-dev',
    });
    await writeFile(join(dir, 'status.json'), JSON.stringify({built: true}));
    assert.match(readBuildStatus(join(dir, 'none.node'), join(dir, 'status.json')).reason ?? '', /missing/);
  });

  it('DISTILLERY_TORCH_THREADS: a positive integer, else the fixed default', () => {
    assert.equal(torchThreadCount({}), DEFAULT_TORCH_THREADS);
    assert.equal(torchThreadCount({DISTILLERY_TORCH_THREADS: ' 3 '}), 3);
    for (const bad of ['0', '-1', '1.5', 'many']) {
      assert.throws(() => torchThreadCount({DISTILLERY_TORCH_THREADS: bad}), /DISTILLERY_TORCH_THREADS=.* is not a positive integer/);
    }
    assert.equal(probeBackend({DISTILLERY_TORCH_THREADS: '3'}).threads, 3);
  });

  it('is bit-identical run to run on the same thread count, in one process and across processes', async () => {
    const a = await gradientInChild({DISTILLERY_BACKEND: 'libtorch', DISTILLERY_TORCH_THREADS: '2'});
    const b = await gradientInChild({DISTILLERY_BACKEND: 'libtorch', DISTILLERY_TORCH_THREADS: '2'});
    assert.equal(a.kind, 'libtorch');
    assert.deepEqual(a.libtorch?.threads, 2);
    assert.equal(a.libtorch?.device, 'cpu');
    assert.match(a.first, /^[0-9a-f]{64}$/);
    assert.equal(a.second, a.first, 'a second gradient in the same process differs');
    assert.equal(b.first, a.first, 'another process computed a different gradient');
    const one = await gradientInChild({DISTILLERY_BACKEND: 'libtorch', DISTILLERY_TORCH_THREADS: '1'});
    assert.equal(one.libtorch?.threads, 1);
    assert.equal(one.second, one.first);
  });

  it('frees every tensor and reuses its memory step after step', async () => {
    await withBackend('libtorch', () => {
      const native = loadTorchBinding();
      const model = convNet({channels: 1, imageSize: 28, classes: 10, width: 32});
      const x = tf.randomNormal([64, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
      const y = tf.tensor1d(Array.from({length: 64}, (_, i) => i % 10), 'int32');
      let params = model.init(2);
      const step = (): void => {
        const next = tf.tidy(() => {
          const g = tf.grad((p: tf.Tensor) => crossEntropy(model.forward(p as tf.Tensor1D, x), y))(params);
          return tf.sub(params, tf.mul(0.01, g)) as tf.Tensor1D;
        });
        params.dispose();
        params = next;
      };
      step();
      const tensors = tf.memory().numTensors;
      const inUse = native.memoryStats().inUse;
      const fromOs = native.memoryStats().osAllocated;
      for (let i = 0; i < 3; i++) step();
      assert.equal(tf.memory().numTensors, tensors, 'tensors leaked');
      assert.equal(native.memoryStats().inUse, inUse, 'native memory leaked');
      assert.equal(native.memoryStats().osAllocated, fromOs, 'later steps asked the OS for memory again instead of reusing it');
      tf.dispose([x, y, params]);
    });
  });

  it('a failing kernel is an error that names it, its inputs and the device, and leaves the process working', async () => {
    await withBackend('libtorch', () => {
      const a = tf.ones([2, 3]);
      const b = tf.ones([4, 5]);
      assert.throws(
        () => tf.engine().runKernel('BatchMatMul', {a: tf.reshape(a, [1, 2, 3]), b: tf.reshape(b, [1, 4, 5])}, {}),
        /libtorch kernel BatchMatMul failed on cpu \(inputs: \[1,2,3\] Float, \[1,4,5\] Float\): .+/,
      );
      assert.throws(() => tf.tensor(['a', 'b']), /the libtorch backend does not support string tensors/);
      assert.deepEqual(Array.from(tf.matMul(a, tf.ones([3, 1])).dataSync()), [3, 3]);
      tf.dispose([a, b]);
    });
  });
});
