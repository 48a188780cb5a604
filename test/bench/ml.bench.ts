/**
 * Backend-level ML throughput, per available backend: a plain ConvNet-128 SGD training step (no augmentation, no
 * data loading) on CIFAR-shaped and Fashion-MNIST-shaped batches of 256, and trajectory-matching meta-gradients
 * (ConvNet-32, 100 images, full unroll). On libtorch also a ResNet-18 training step (the KD teacher) and a 20-step
 * unroll at width 128 with its peak memory; wasm cannot hold those in its 4 GB heap, and its ResNet-18 step takes
 * minutes. The pure-JS cpu backend is not measured: its convolution gradients take minutes per step at these sizes.
 *
 * When /usr/bin/python3 has torch, the same measurements run in PyTorch in the same bench run (on libtorch's thread
 * count, glibc keeping freed memory), and each libtorch line carries its ratio to PyTorch.
 *
 * wasm runs on every core (DISTILLERY_WASM_THREADS unset); on a multi-core machine the same measurements are then
 * repeated on one thread in a child process (a process starts its wasm pool once), so one run shows both.
 */
import * as tf from '@tensorflow/tfjs-core';
import {execFileSync, spawnSync} from 'node:child_process';
import {availableParallelism, totalmem} from 'node:os';
import {activateBackend} from '../../ml/backend.js';
import {WASM_THREADS_VARIABLE, forcedWasmThreads, torchThreadCount, type BackendKind} from '../../ml/backend-probe.js';
import {loadTorchBinding} from '../../ml/libtorch/native-binding.js';
import {resNet} from '../../ml/resnet.js';
import {measureReference, referenceUnavailable, type ReferenceFigure} from './pytorch-reference.js';
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
function trainingThroughput(model: FunctionalModel, shape: readonly [number, number, number], batch = BATCH): Throughput {
  const x = tf.randomNormal([batch, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(
    Array.from({length: batch}, (_, i) => i % 10),
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
  const t = timed(batch * STEPS, () => {
    for (let i = 0; i < STEPS; i++) step();
  });
  tf.dispose([x, y, params]);
  return t;
}

/**
 * Iterations per second of one MTT outer iteration (meta-gradient w.r.t. pixels and syn_lr): ConvNet of `width` on
 * 28x28x1, 100 synthetic images (10 per class), `steps` unrolled steps on all 100, no augmentation, no KD, full
 * unroll. With `warm`, one untimed iteration first.
 */
function mttIteration(steps = 2, width = 32, warm = true): Throughput {
  const model = convNet({channels: 1, imageSize: 28, classes: 10, width});
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
    steps: planBatches(createRng(4), n, n, steps),
    kd: {alpha: 0, temperature: 1},
  };
  const once = (): void => {
    const g = metaGradient(problem, images, synLr, 'full');
    g.images.dataSync();
    tf.dispose([g.loss, g.images, g.synLr]);
  };
  if (warm) once();
  const t = timed(1, once);
  tf.dispose([theta0, thetaStar, labels, images, synLr]);
  return t;
}

/** `ours / reference` as a figure with two decimals and the reference value, or '' without a reference. */
function ratio(ours: number, reference: ReferenceFigure | undefined, unit: string, better: 'higher' | 'lower'): string {
  if (reference === undefined) return '';
  const r = ours / reference.value;
  const meaning = better === 'higher' ? 'PyTorch speed' : "PyTorch's time";
  return `; PyTorch ${reference.torch}: ${reference.value.toFixed(better === 'higher' ? 1 : 2)} ${unit} -> ${r.toFixed(2)}x ${meaning}`;
}

/** The PyTorch figures for `names`, or none (with a line saying why). */
function reference(names: readonly string[], threads: number, report: (line: string) => void): Map<string, ReferenceFigure> {
  const why = referenceUnavailable();
  if (why !== undefined) {
    report(`ml pytorch: not measured (${why})`);
    return new Map();
  }
  try {
    return new Map(measureReference(threads, names).map((f) => [f.name, f]));
  } catch (e) {
    report(`ml pytorch: failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
    return new Map();
  }
}

function mib(bytes: number): string {
  return `${(bytes / 2 ** 20).toFixed(0)} MiB`;
}

/** The child-process marker of the big-unroll measurement (see bigUnroll). */
const BIG_UNROLL_CHILD = 'DISTILLERY_BENCH_BIG_UNROLL';

/** The 20-step, width-128 full unroll, measured in this process: its line. */
function bigUnrollHere(label: string): string {
  const native = loadTorchBinding();
  native.resetPeak();
  const big = mttIteration(20, 128, false);
  const peak = native.memoryStats().peakInUse;
  return (
    `ml ${label}: MTT meta-gradient, ConvNet-128 28x28x1, 100 images, 20 unrolled steps, full unroll: completed in ` +
    `${(1 / big.perWallSecond).toFixed(1)} s; peak tensor memory ${mib(peak)}, peak resident ${mib(process.resourceUsage().maxRSS * 1024)}`
  );
}

/**
 * The 20-step, width-128 full unroll in a child process: the tape of 20 unrolled steps can outgrow the machine's
 * memory, and an out-of-memory kill must end this one measurement with a line saying so, not the whole bench.
 */
function bigUnroll(label: string, ref: ReferenceFigure | undefined): string {
  const pytorch = ref === undefined ? '' : `; PyTorch: ${ref.value.toFixed(1)} s, peak resident ${ref.peakRssMiB.toFixed(0)} MiB`;
  const child = spawnSync(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'ml'], {
    env: {...process.env, [BIG_UNROLL_CHILD]: '1'},
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  const line = child.stdout.split('\n').find((l) => l.includes('20 unrolled steps'));
  if (child.status === 0 && line !== undefined) return line + pytorch;
  const why = child.signal !== null ? `killed by ${child.signal} (out of memory? the machine has ${mib(totalmem())})` : `exit ${String(child.status)}: ${child.stderr.trim().split('\n').pop() ?? ''}`;
  return `ml ${label}: MTT meta-gradient, ConvNet-128 28x28x1, 100 images, 20 unrolled steps, full unroll: did not complete, ${why}${pytorch}`;
}

/** The libtorch measurements, each beside PyTorch's when it is installed. */
async function benchTorch(report: (line: string) => void): Promise<void> {
  const reason = await activateBackend('libtorch');
  if (reason !== undefined) {
    report(`ml libtorch: not available (${reason.split('\n')[0] ?? ''})`);
    return;
  }
  const threads = torchThreadCount();
  const label = `libtorch, ${threads} thread(s)`;
  const pytorch = reference(['convnet-cifar', 'convnet-fmnist', 'resnet18', 'mtt-2', 'mtt-10', 'mtt-20-w128'], threads, report);
  const cifar = trainingThroughput(convNet({channels: 3, imageSize: 32, classes: 10, width: 128}), [32, 32, 3]);
  report(`ml ${label}: ConvNet-128 training step, 32x32x3, batch ${BATCH}: ${format(cifar, 'images')}${ratio(cifar.perWallSecond, pytorch.get('convnet-cifar'), 'images/s', 'higher')}`);
  const fashion = trainingThroughput(convNet({channels: 1, imageSize: 28, classes: 10, width: 128}), [28, 28, 1]);
  report(`ml ${label}: ConvNet-128 training step, 28x28x1, batch ${BATCH}: ${format(fashion, 'images')}${ratio(fashion.perWallSecond, pytorch.get('convnet-fmnist'), 'images/s', 'higher')}`);
  const resnet = trainingThroughput(resNet({depth: 18, channels: 3, classes: 10}), [32, 32, 3], 64);
  report(`ml ${label}: ResNet-18 (batch norm) training step, 32x32x3, batch 64: ${format(resnet, 'images')}${ratio(resnet.perWallSecond, pytorch.get('resnet18'), 'images/s', 'higher')}`);
  for (const steps of [2, 10]) {
    const mtt = mttIteration(steps);
    const seconds = 1 / mtt.perWallSecond;
    report(
      `ml ${label}: MTT meta-gradient, ConvNet-32 28x28x1, 100 images, ${steps} unrolled steps, full unroll: ` +
        `${seconds.toFixed(2)} s wall-clock${ratio(seconds, pytorch.get(`mtt-${steps}`), 's', 'lower')}`,
    );
  }
  report(bigUnroll(label, pytorch.get('mtt-20-w128')));
}

/** Reports one line per backend and measurement. */
export async function bench(report: (line: string) => void): Promise<void> {
  if (process.env[BIG_UNROLL_CHILD] !== undefined) {
    const reason = await activateBackend('libtorch');
    if (reason !== undefined) throw new Error(reason);
    report(bigUnrollHere(`libtorch, ${torchThreadCount()} thread(s)`));
    return;
  }
  // The one-thread wasm child below re-enters here; it only measures wasm.
  const child = process.env['DISTILLERY_BENCH_CHILD'] !== undefined;
  if (!child) await benchTorch(report);
  const kinds: BackendKind[] = child ? ['wasm'] : ['tensorflow-gpu', 'tensorflow', 'wasm'];
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
  if (forcedWasmThreads() === undefined && availableParallelism() > 1 && !child) {
    const out = execFileSync(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'ml'], {
      env: {...process.env, [WASM_THREADS_VARIABLE]: '1', DISTILLERY_BENCH_CHILD: '1'},
      encoding: 'utf8',
      maxBuffer: 1 << 20,
    });
    for (const line of out.split('\n')) if (line.startsWith('ml wasm')) report(line);
  }
}
