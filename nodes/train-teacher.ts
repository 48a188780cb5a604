/**
 * `trainTeacher`: the KD teacher, a CIFAR-stem ResNet-18/50 (or a ConvNet) trained on the real train set with SGD
 * (momentum 0.9, weight decay 5e-4, lr x0.1 at epochs/2 + 1). Its `Model` keeps the batch-norm running statistics,
 * so the teacher is evaluated (and distils) in eval mode, as a PyTorch teacher would be.
 */
import {defineNode} from './api.js';

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
    const {run} = await import('./train-teacher-run.js');
    return run(ctx);
  },
});
