/**
 * Backend-level ML throughput, per available backend: a plain ConvNet-128 SGD training step (no augmentation, no
 * data loading) on CIFAR-shaped and Fashion-MNIST-shaped batches of 256, and one trajectory-matching meta-gradient
 * at a small documented setting. The pure-JS cpu backend is not measured: its convolution gradients take minutes
 * per step at these sizes (see docs/ml-backends.md).
 *
 * wasm runs on every core (DISTILLERY_WASM_THREADS unset); on a multi-core machine the same measurements are then
 * repeated on one thread in a child process (a process starts its wasm pool once), so one run shows both.
 */
import * as tf from '@tensorflow/tfjs-core';
import {execFileSync} from 'node:child_process';
import {availableParallelism} from 'node:os';
import {activateBackend} from '../../ml/backend.js';
import {WASM_THREADS_VARIABLE, forcedWasmThreads, type BackendKind} from '../../ml/backend-probe.js';
import {activeWasmThreads} from '../../ml/wasm-threads.js';
import {convNet} from '../../ml/convnet.js';
import {crossEntropy} from '../../ml/losses.js';
import type {FunctionalModel} from '../../ml/model.js';
import {metaGradient, planBatches} from '../../ml/mtt.js';
import type {MatchingProblem} from '../../ml/mtt.js';
import {createRng} from '../../ml/rng.js';

/** Batch of the training-step measurements (the reference's batch_train). */
const BATCH = 256;
/** Timed steps per measurement, after one untimed warm-up step. */
const STEPS = 2;

/**
 * Throughput of a timed section: per wall-clock second, and per second of this process's CPU time. The wasm backend
 * is single-threaded in Node, so the CPU-time figure is what the section would reach on an idle core; on a shared
 * machine the wall-clock figure depends on the load.
 */
interface Throughput {
  readonly perWallSecond: number;
  readonly perCpuSecond: number;
}

function timed(work: number, section: () => void): Throughput {
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  section();
  const wall = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {perWallSecond: work / wall, perCpuSecond: work / ((cpu.user + cpu.system) / 1e6)};
}

function format(t: Throughput, unit: string): string {
  return `${t.perWallSecond.toFixed(1)} ${unit}/s wall-clock, ${t.perCpuSecond.toFixed(1)} ${unit} per CPU-second`;
}

/** Images per second of `model`'s SGD step (forward, backward, update) on random data of `shape`. */
function trainingThroughput(model: FunctionalModel, shape: readonly [number, number, number]): Throughput {
  const x = tf.randomNormal([BATCH, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(
    Array.from({length: BATCH}, (_, i) => i % 10),
    'int32',
  );
  let params = model.init(1);
  const step = (): void => {
    const next = tf.tidy(() => {
      const g = tf.grad((p: tf.Tensor) => crossEntropy(model.forward(p as tf.Tensor1D, x), y))(params);
      return tf.sub(params, tf.mul(0.01, g)) as tf.Tensor1D;
    });
    next.dataSync(); // wait for the step to finish
    params.dispose();
    params = next;
  };
  step();
  const t = timed(BATCH * STEPS, () => {
    for (let i = 0; i < STEPS; i++) step();
  });
  tf.dispose([x, y, params]);
  return t;
}

/**
 * Iterations per second of one MTT outer iteration (meta-gradient w.r.t. pixels and syn_lr): ConvNet width 32 on 28x28x1, 100
 * synthetic images (10 per class), 2 unrolled steps on all 100, no augmentation, no KD, full unroll.
 */
function mttIteration(): Throughput {
  const model = convNet({channels: 1, imageSize: 28, classes: 10, width: 32});
  const n = 100;
  const theta0 = model.init(1);
  const thetaStar = tf.tidy(() => tf.add(theta0, tf.randomNormal(theta0.shape, 0, 0.01, 'float32', 2)) as tf.Tensor1D);
  const labels = tf.tensor1d(
    Array.from({length: n}, (_, i) => Math.floor(i / 10)),
    'int32',
  );
  const images = tf.randomNormal([n, 28, 28, 1], 0, 1, 'float32', 3) as tf.Tensor4D;
  const synLr = tf.scalar(0.01);
  const problem: MatchingProblem = {
    model,
    labels,
    theta0,
    thetaStar,
    steps: planBatches(createRng(4), n, n, 2),
    kd: {alpha: 0, temperature: 1},
  };
  const once = (): void => {
    const g = metaGradient(problem, images, synLr, 'full');
    g.images.dataSync();
    tf.dispose([g.loss, g.images, g.synLr]);
  };
  once();
  const t = timed(1, once);
  tf.dispose([theta0, thetaStar, labels, images, synLr]);
  return t;
}

/** Reports one line per backend and measurement. */
export async function bench(report: (line: string) => void): Promise<void> {
  const kinds: BackendKind[] = ['tensorflow-gpu', 'tensorflow', 'wasm'];
  for (const kind of kinds) {
    const reason = await activateBackend(kind);
    if (reason !== undefined) {
      report(`ml ${kind}: not available (${reason.split('\n')[0] ?? ''})`);
      continue;
    }
    const label = kind === 'wasm' ? `wasm, ${await activeWasmThreads()} thread(s)` : kind;
    const cifar = trainingThroughput(convNet({channels: 3, imageSize: 32, classes: 10, width: 128}), [32, 32, 3]);
    report(`ml ${label}: ConvNet-128 training step, 32x32x3, batch ${BATCH}: ${format(cifar, 'images')}`);
    const fashion = trainingThroughput(convNet({channels: 1, imageSize: 28, classes: 10, width: 128}), [28, 28, 1]);
    report(`ml ${label}: ConvNet-128 training step, 28x28x1, batch ${BATCH}: ${format(fashion, 'images')}`);
    const mtt = mttIteration();
    report(
      `ml ${label}: MTT meta-gradient, ConvNet-32 28x28x1, 100 images, 2 unrolled steps: ` +
        `${(1 / mtt.perWallSecond).toFixed(2)} s wall-clock, ${(1 / mtt.perCpuSecond).toFixed(2)} CPU-s per iteration`,
    );
  }
  if (forcedWasmThreads() === undefined && availableParallelism() > 1) {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'ml'], {
      env: {...process.env, [WASM_THREADS_VARIABLE]: '1'},
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    for (const line of out.split('\n')) if (line.startsWith('ml wasm')) report(line);
  }
}
