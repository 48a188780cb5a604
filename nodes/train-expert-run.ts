/**
 * The implementation of `trainExpert` (see train-expert.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import * as tf from '@tensorflow/tfjs-core';
import {startBackend} from './start-backend.js';
import {toTensors} from '../ml/data/dataset.js';
import {evaluate} from '../ml/evaluate.js';
import {train} from '../ml/train.js';
import type {NodeContext} from './api.js';
import {inputPath, readDatasetArtifact, writeTrajectoryArtifact} from './artifacts.js';
import {buildArch} from './build-arch.js';
import {convNetFor} from './model-spec.js';
import type {TrainExpertParams} from './train-expert.js';

/** Runs one `trainExpert` instance. */
export async function run(ctx: NodeContext<TrainExpertParams>): Promise<void> {
  await startBackend(ctx);
  const p = ctx.params;
  const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
  const arch = convNetFor(p, data.train);
  const model = buildArch(arch);
  const snapshots: Float32Array[] = [];
  const {x, y} = toTensors(data.train);
  const init = model.init(ctx.seed);
  try {
    const result = await train({
      model,
      params: init,
      x,
      y,
      epochs: p.epochs,
      batchSize: p.batchSize,
      lr: p.lr,
      momentum: p.momentum,
      weightDecay: p.weightDecay,
      ...(p.dsa ? {dsa: {}} : {}),
      seed: ctx.seed,
      signal: ctx.signal,
      onSnapshot: async (_epoch, params) => {
        snapshots.push(Float32Array.from(await params.data()));
      },
      onEpoch: (info) => ctx.log(`epoch ${info.epoch}: loss ${info.loss.toFixed(4)}, train acc ${(100 * info.trainAccuracy).toFixed(1)}%`),
      onProgress: (fraction, info) => ctx.progress(0.95 * fraction, {epoch: info.epoch + 1, batch: info.batch + 1}),
    });
    const last = result.history[result.history.length - 1];
    const test = toTensors(data.test);
    try {
      const ev = await evaluate(model, result.params, test.x, test.y, 256, {signal: ctx.signal});
      ctx.metric('test_accuracy', 100 * ev.accuracy);
    } finally {
      tf.dispose([test.x, test.y, result.params, result.buffers]);
    }
    if (last !== undefined) {
      ctx.metric('train_loss', last.loss);
      ctx.metric('train_accuracy', 100 * last.trainAccuracy);
    }
  } finally {
    tf.dispose([x, y, init]);
  }
  await writeTrajectoryArtifact(ctx.file('trajectory', '.safetensors'), {arch, lr: p.lr, snapshots});
  ctx.progress(1);
}
