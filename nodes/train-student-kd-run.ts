/**
 * The implementation of `trainStudentKD` (see train-student-kd.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import * as tf from '@tensorflow/tfjs-core';
import {startBackend} from './start-backend.js';
import type {Dataset} from '../ml/data/dataset.js';
import {toTensors} from '../ml/data/dataset.js';
import {referenceEvalSchedule, train, type KdSettings} from '../ml/train.js';
import type {JsonObject, NodeContext} from './api.js';
import {inputPath, readDatasetArtifact, readSyntheticSetArtifact, writeModelArtifact} from './artifacts.js';
import {buildArch} from './build-arch.js';
import {convNetFor, describeArch} from './model-spec.js';
import {readTeacher} from './read-teacher.js';
import type {TrainStudentKdParams} from './train-student-kd.js';

/** lr when training on real data without a set's learned lr. */
const REAL_DATA_LR = 0.01;

/** Runs one `trainStudentKD` instance. */
export async function run(ctx: NodeContext<TrainStudentKdParams>): Promise<void> {
  await startBackend(ctx);
  const p = ctx.params;
  let trainSet: Dataset;
  let lr: number;
  let trainedOn: JsonObject;
  const setInput = ctx.inputs['set'];
  const dataInput = ctx.inputs['data'];
  if (setInput !== undefined) {
    const s = await readSyntheticSetArtifact(inputPath(setInput, 'set'));
    trainSet = s.set;
    lr = p.lr ?? s.lr;
    trainedOn = s.provenance;
  } else if (dataInput !== undefined) {
    trainSet = (await readDatasetArtifact(inputPath(dataInput, 'data'))).train;
    lr = p.lr ?? REAL_DATA_LR;
    trainedOn = {source: 'real', images: trainSet.n};
  } else {
    throw new Error('trainStudentKD: connect "set" (a synthetic or random set) or "data" (the real train split)');
  }
  const owned: tf.Tensor[] = [];
  let kd: KdSettings | undefined;
  if (p.alpha > 0) {
    const {teacher} = await readTeacher(ctx, 'trainStudentKD', p.alpha, owned);
    kd = {teacher, alpha: p.alpha, temperature: p.T};
  }
  const arch = convNetFor(p, trainSet);
  const model = buildArch(arch);
  const schedule = referenceEvalSchedule(p.epochs);
  const {x, y} = toTensors(trainSet);
  owned.push(x, y);
  const params: Float32Array[] = [];
  const buffers: Float32Array[] = [];
  let lossSum = 0;
  try {
    for (let s = 0; s < p.seeds; s++) {
      const seed = ctx.seed + 7919 * s;
      const init = model.init(seed);
      try {
        const result = await train({
          model,
          params: init,
          x,
          y,
          epochs: schedule.epochs,
          lrDecayEpochs: schedule.lrDecayEpochs,
          batchSize: p.batchSize,
          lr,
          momentum: p.momentum,
          weightDecay: p.weightDecay,
          ...(p.dsa ? {dsa: {}} : {}),
          ...(kd === undefined ? {} : {kd}),
          seed,
          signal: ctx.signal,
          onProgress: (fraction, info) => ctx.progress((s + fraction) / p.seeds, {student: s + 1, epoch: info.epoch + 1}),
        });
        params.push(Float32Array.from(await result.params.data()));
        buffers.push(Float32Array.from(await result.buffers.data()));
        lossSum += result.history[result.history.length - 1]?.loss ?? Number.NaN;
        tf.dispose([result.params, result.buffers]);
      } finally {
        init.dispose();
      }
    }
  } finally {
    tf.dispose(owned);
  }
  ctx.metric('train_loss', lossSum / p.seeds);
  ctx.metric('lr', lr);
  await writeModelArtifact(ctx.file('model', '.safetensors'), {
    arch,
    params,
    buffers,
    provenance: {trainedOn, alpha: p.alpha, T: p.T, epochs: p.epochs, lr, seeds: p.seeds, student: describeArch(arch)},
  });
  ctx.progress(1);
}
