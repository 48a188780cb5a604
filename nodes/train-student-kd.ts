/**
 * `trainStudentKD`: fresh ConvNet students trained on a given set (a distilled set, a random real subset, or the
 * whole real train set) with (1 - alpha) * CE + alpha * T^2 * KL(teacher || student), following the evaluation
 * protocol of spec section 5: SGD momentum 0.9, weight decay 5e-4, batch 256, Epoch + 1 passes with lr x0.1 at pass
 * Epoch/2 + 1 (momentum reset), DSA on, lr = the set's learned lr unless given. One student per seed; all of them go
 * into the `Model` artifact, so `evaluate` reports a mean and a standard deviation.
 */
import * as tf from '@tensorflow/tfjs';
import {initBackend} from '../ml/backend.js';
import type {Dataset} from '../ml/data/dataset.js';
import {toTensors} from '../ml/data/dataset.js';
import {referenceEvalSchedule, teacherFromModel, train, type KdSettings} from '../ml/train.js';
import type {JsonObject} from './api.js';
import {defineNode} from './api.js';
import {inputPath, readDatasetArtifact, readModelArtifact, readSyntheticSetArtifact, writeModelArtifact} from './artifacts.js';
import {buildArch, CONVNET_PARAMS, convNetFor, describeArch, type ConvNetSpec} from './model-spec.js';

/** Params of {@link trainStudentKD}. */
export interface TrainStudentKdParams {
  readonly width: number;
  readonly depth: number;
  readonly norm: ConvNetSpec['norm'];
  readonly epochs: number;
  readonly lr?: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly dsa: boolean;
  readonly seeds: number;
  readonly alpha: number;
  readonly T: number;
}

/** lr when training on real data without a set's learned lr. */
const REAL_DATA_LR = 0.01;

/** The node type. */
export const trainStudentKD = defineNode<TrainStudentKdParams>({
  type: 'trainStudentKD',
  description: 'Fresh ConvNet students trained on a set (or the real data) with CE plus an optional KD term, one per seed.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...CONVNET_PARAMS,
      epochs: {type: 'integer', minimum: 1, default: 1000, description: 'Epoch of the protocol (Epoch + 1 passes are run).'},
      lr: {type: 'number', exclusiveMinimum: 0, description: "Default: the set's learned lr (0.01 on real data)."},
      momentum: {type: 'number', minimum: 0, maximum: 1, default: 0.9},
      weightDecay: {type: 'number', minimum: 0, default: 5e-4},
      batchSize: {type: 'integer', minimum: 1, default: 256},
      dsa: {type: 'boolean', default: true},
      seeds: {type: 'integer', minimum: 1, default: 3, description: 'Students trained (each from its own init).'},
      alpha: {type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Weight of the KD term; 0 = plain CE (no teacher needed).'},
      T: {type: 'number', exclusiveMinimum: 0, default: 4, description: 'KD temperature.'},
    },
  },
  inputs: {
    set: {kind: 'SyntheticSet', optional: true, description: 'The set to train on (distilled or random subset).'},
    data: {kind: 'Dataset', optional: true, description: 'Used (its train split) when no set is connected.'},
    teacher: {kind: 'Model', optional: true, description: 'Required when alpha > 0.'},
  },
  outputs: {model: {kind: 'Model', description: 'safetensors: params F32 [seeds, P], buffers, arch and provenance'}},
  resources: {gpu: 1},
  async run(ctx) {
    await initBackend();
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
      const teacherInput = ctx.inputs['teacher'];
      if (teacherInput === undefined) throw new Error(`trainStudentKD: alpha = ${p.alpha} > 0 needs the "teacher" input`);
      const t = await readModelArtifact(inputPath(teacherInput, 'teacher'));
      const tParams = tf.tensor1d(t.params[0] ?? new Float32Array(0));
      const tBuffers = tf.tensor1d(t.buffers[0] ?? new Float32Array(0));
      owned.push(tParams, tBuffers);
      kd = {teacher: teacherFromModel(buildArch(t.arch), tParams, tBuffers), alpha: p.alpha, temperature: p.T};
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
  },
});
