/**
 * Trajectory matching cost on the active backend (initBackend's choice; wasm on a plain install): seconds per outer
 * iteration and peak tensor memory, ConvNet width 32 depth 3 on 28x28x1, 100 synthetic images (10 classes x ipc 10),
 * batch_syn 100, DSA on, for both ways of computing the meta-gradient ('full' tape vs 'stepwise' reverse accumulation)
 * and with a KD teacher. `full` is only measured at 2 steps: at 5 it exhausts the 4 GB wasm heap, and the wasm module
 * cannot recover from that (the process dies with "memory access out of bounds"), which is why 'stepwise' is the default.
 */
import * as tf from '@tensorflow/tfjs-core';
import {initBackend} from '../../ml/backend.js';
import {convNet} from '../../ml/convnet.js';
import type {Dataset} from '../../ml/data/dataset.js';
import type {DistillOptions, UnrollMode} from '../../ml/mtt-config.js';
import {describeMttFailure} from '../../ml/mtt-failure.js';
import {distill} from '../../ml/mtt.js';
import {createRng} from '../../ml/rng.js';

const CLASSES = 10;
const IPC = 10;

function randomData(n: number, size: number): Dataset {
  const rng = createRng(5);
  return {
    x: Float32Array.from({length: n * size * size}, () => rng.uniform() * 2 - 1),
    y: Int32Array.from({length: n}, (_, i) => i % CLASSES),
    n,
    height: size,
    width: size,
    channels: 1,
    classes: CLASSES,
    classNames: Array.from({length: CLASSES}, (_, c) => `c${c}`),
    mean: [0],
    std: [1],
  };
}

/** The wasm heap size in MiB (it only grows), or undefined on other backends. */
function wasmHeapMiB(): number | undefined {
  const backend = tf.backend() as unknown as {wasm?: {HEAPU8?: Uint8Array}};
  const heap = backend.wasm?.HEAPU8;
  return heap === undefined ? undefined : heap.length / 2 ** 20;
}

/** Reports one line per measurement. */
export async function bench(report: (line: string) => void): Promise<void> {
  const info = await initBackend();
  const model = convNet({width: 32, depth: 3, channels: 1, imageSize: 28, classes: CLASSES});
  const teacherModel = convNet({width: 32, depth: 3, channels: 1, imageSize: 28, classes: CLASSES});
  const teacherParams = teacherModel.init(99);
  const real = randomData(CLASSES * IPC * 2, 28);
  // Expert snapshots only need the right size and some distance between them for timing.
  const experts = [0, 1].map((seed) => {
    const init = model.init(seed);
    const base = Float32Array.from(init.dataSync());
    init.dispose();
    const rng = createRng(seed + 10);
    return [0, 1, 2].map((e) => base.map((v) => v + e * 0.01 * (rng.uniform() - 0.5)));
  });

  const measure = async (unroll: UnrollMode, synSteps: number, alpha: number): Promise<void> => {
    const label =
      `mtt: ConvNet-32 28x28x1, 100 images, batch_syn 100, ${synSteps} steps, ${unroll}` +
      `${alpha > 0 ? `, KD alpha ${alpha} (ConvNet-32 teacher)` : ''} on ${info.kind}`;
    const options: DistillOptions = {
      model,
      experts,
      real,
      ipc: IPC,
      synSteps,
      expertEpochs: 2,
      maxStartEpoch: 1,
      unroll,
      alpha,
      ...(alpha > 0 ? {teacher: (x: tf.Tensor4D) => teacherModel.forward(teacherParams, x)} : {}),
      seed: 1,
    };
    try {
      // Peak tensor bytes of one iteration (tf.profile tracks every kernel's allocations).
      let outcome = '';
      const profile = await tf.profile(async () => {
        const r = await distill({...options, iterations: 1});
        if (!r.ok) outcome = describeMttFailure(r.error);
        return [];
      });
      if (outcome !== '') throw new Error(outcome);
      // Then time two iterations; the second is the warm one.
      const stamps: number[] = [performance.now()];
      const r = await distill({...options, iterations: 2, onProgress: () => stamps.push(performance.now())});
      if (!r.ok) throw new Error(describeMttFailure(r.error));
      const seconds = ((stamps[2] ?? Number.NaN) - (stamps[1] ?? Number.NaN)) / 1000;
      const heap = wasmHeapMiB();
      report(
        `${label}: ${seconds.toFixed(2)} s/iteration (${(seconds / synSteps).toFixed(2)} s/step), ` +
          `peak tensors ${(profile.peakBytes / 2 ** 20).toFixed(0)} MiB` +
          (heap === undefined ? '' : `, wasm heap ${heap.toFixed(0)} MiB`),
      );
    } catch (e) {
      report(`${label}: failed: ${e instanceof Error ? e.message : String(e)}`);
    }
  };

  await measure('stepwise', 2, 0);
  await measure('stepwise', 5, 0);
  await measure('stepwise', 5, 0.5);
  await measure('stepwise', 10, 0);
  await measure('full', 2, 0);
  teacherParams.dispose();
}
