/**
 * `trainExpert`: one expert trajectory for trajectory matching (spec section 1): a ConvNet trained on the real train
 * set with plain SGD (lr 0.01, no momentum, no weight decay, batch 256, DSA), saving the flat parameters after every
 * epoch (entry 0 = the initialisation). Used with `repeat: K`; each instance's seed gives its own init and order.
 */
import * as tf from '@tensorflow/tfjs';
import {initBackend} from '../ml/backend.js';
import {toTensors} from '../ml/data/dataset.js';
import {evaluate} from '../ml/evaluate.js';
import {train} from '../ml/train.js';
import {defineNode} from './api.js';
import {inputPath, readDatasetArtifact, writeTrajectoryArtifact} from './artifacts.js';
import {buildArch, CONVNET_PARAMS, convNetFor, type ConvNetSpec} from './model-spec.js';

/** Params of {@link trainExpert}. */
export interface TrainExpertParams {
  readonly width: number;
  readonly depth: number;
  readonly norm: ConvNetSpec['norm'];
  readonly epochs: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly dsa: boolean;
}

/** The node type. */
export const trainExpert = defineNode<TrainExpertParams>({
  type: 'trainExpert',
  description: 'A ConvNet trained on the real data, with its parameters saved after every epoch (an expert trajectory).',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ...CONVNET_PARAMS,
      epochs: {type: 'integer', minimum: 1, default: 50, description: 'Training epochs (the trajectory has epochs + 1 entries).'},
      lr: {type: 'number', exclusiveMinimum: 0, default: 0.01},
      momentum: {type: 'number', minimum: 0, maximum: 1, default: 0},
      weightDecay: {type: 'number', minimum: 0, default: 0},
      batchSize: {type: 'integer', minimum: 1, default: 256},
      dsa: {type: 'boolean', default: true, description: 'Differentiable Siamese Augmentation on every batch.'},
    },
  },
  inputs: {data: {kind: 'Dataset'}},
  outputs: {trajectory: {kind: 'Trajectories', description: 'safetensors: trajectory F32 [epochs+1, params]'}},
  resources: {gpu: 1},
  async run(ctx) {
    await initBackend();
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
  },
});
