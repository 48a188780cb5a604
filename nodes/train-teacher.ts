/**
 * `trainTeacher`: the KD teacher, a CIFAR-stem ResNet-18/50 (or a ConvNet) trained on the real train set with SGD
 * (momentum 0.9, weight decay 5e-4, lr x0.1 at epochs/2 + 1). Its `Model` keeps the batch-norm running statistics,
 * so the teacher is evaluated (and distils) in eval mode, as a PyTorch teacher would be.
 */
import * as tf from '@tensorflow/tfjs';
import {initBackend} from '../ml/backend.js';
import {toTensors} from '../ml/data/dataset.js';
import {evaluate} from '../ml/evaluate.js';
import {train} from '../ml/train.js';
import {defineNode} from './api.js';
import {inputPath, readDatasetArtifact, writeModelArtifact} from './artifacts.js';
import {buildArch, convNetFor, describeArch, type ArchSpec} from './model-spec.js';

/** Params of {@link trainTeacher}. */
export interface TrainTeacherParams {
  readonly arch: 'resnet18' | 'resnet50' | 'convnet';
  readonly widthMultiplier: number;
  readonly norm: 'batch' | 'group' | 'instance';
  readonly width: number;
  readonly depth: number;
  readonly epochs: number;
  readonly lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  readonly batchSize: number;
  readonly dsa: boolean;
}

function archOf(p: TrainTeacherParams, data: {channels: number; height: number; classes: number}): ArchSpec {
  switch (p.arch) {
    case 'resnet18':
    case 'resnet50':
      return {
        kind: 'resnet',
        depth: p.arch === 'resnet18' ? 18 : 50,
        widthMultiplier: p.widthMultiplier,
        norm: p.norm,
        channels: data.channels,
        classes: data.classes,
      };
    case 'convnet':
      // A ConvNet teacher has no group norm; 'group' falls back to the ConvNet default.
      return convNetFor({width: p.width, depth: p.depth, norm: p.norm === 'batch' ? 'batch' : 'instance'}, data);
    default: {
      const never: never = p.arch;
      throw new Error(`Internal error: unknown teacher architecture ${String(never)}`);
    }
  }
}

/** The node type. */
export const trainTeacher = defineNode<TrainTeacherParams>({
  type: 'trainTeacher',
  description: 'The KD teacher: a ResNet-18/50 (or ConvNet) trained on the real data.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      arch: {enum: ['resnet18', 'resnet50', 'convnet'], default: 'resnet18'},
      widthMultiplier: {type: 'number', exclusiveMinimum: 0, default: 1, description: 'ResNet stem width = round(64 x this).'},
      norm: {enum: ['batch', 'group', 'instance'], default: 'batch'},
      width: {type: 'integer', minimum: 1, default: 128, description: 'ConvNet teacher only.'},
      depth: {type: 'integer', minimum: 1, maximum: 5, default: 3, description: 'ConvNet teacher only.'},
      epochs: {type: 'integer', minimum: 1, default: 30},
      lr: {type: 'number', exclusiveMinimum: 0, default: 0.05},
      momentum: {type: 'number', minimum: 0, maximum: 1, default: 0.9},
      weightDecay: {type: 'number', minimum: 0, default: 5e-4},
      batchSize: {type: 'integer', minimum: 1, default: 128},
      dsa: {type: 'boolean', default: true},
    },
  },
  inputs: {data: {kind: 'Dataset'}},
  outputs: {model: {kind: 'Model', description: 'safetensors: params F32 [1, P], buffers F32 [1, B], arch in metadata'}},
  resources: {gpu: 1},
  async run(ctx) {
    await initBackend();
    const p = ctx.params;
    const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
    const arch = archOf(p, data.train);
    const model = buildArch(arch);
    ctx.log(`teacher: ${describeArch(arch)}, ${model.numParams} parameters`);
    const {x, y} = toTensors(data.train);
    const init = model.init(ctx.seed);
    let params: Float32Array;
    let buffers: Float32Array;
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
        lrDecayEpochs: [Math.floor(p.epochs / 2) + 1].filter((e) => e < p.epochs),
        ...(p.dsa ? {dsa: {}} : {}),
        seed: ctx.seed,
        signal: ctx.signal,
        onEpoch: (info) => ctx.log(`epoch ${info.epoch}: loss ${info.loss.toFixed(4)}`),
        onProgress: (fraction, info) => ctx.progress(0.95 * fraction, {epoch: info.epoch + 1, batch: info.batch + 1}),
      });
      const test = toTensors(data.test);
      try {
        const ev = await evaluate(model, result.params, test.x, test.y, 256, {buffers: result.buffers, signal: ctx.signal});
        ctx.metric('test_accuracy', 100 * ev.accuracy);
        const last = result.history[result.history.length - 1];
        if (last !== undefined) ctx.metric('train_loss', last.loss);
        params = Float32Array.from(await result.params.data());
        buffers = Float32Array.from(await result.buffers.data());
      } finally {
        tf.dispose([test.x, test.y, result.params, result.buffers]);
      }
    } finally {
      tf.dispose([x, y, init]);
    }
    await writeModelArtifact(ctx.file('model', '.safetensors'), {
      arch,
      params: [params],
      buffers: [buffers],
      provenance: {source: 'teacher', arch: describeArch(arch), epochs: p.epochs},
    });
    ctx.progress(1);
  },
});
