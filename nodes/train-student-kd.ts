/**
 * `trainStudentKD`: fresh ConvNet students trained on a given set (a distilled set, a random real subset, or the
 * whole real train set) with (1 - alpha) * CE + alpha * T^2 * KL(teacher || student), following the evaluation
 * protocol of spec section 5: SGD momentum 0.9, weight decay 5e-4, batch 256, Epoch + 1 passes with lr x0.1 at pass
 * Epoch/2 + 1 (momentum reset), DSA on, lr = the set's learned lr unless given. One student per seed; all of them go
 * into the `Model` artifact, so `evaluate` reports a mean and a standard deviation.
 */
import {defineNode} from './api.js';
import {CONVNET_PARAMS, type ConvNetSpec} from './model-spec.js';

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
    const {run} = await import('./train-student-kd-run.js');
    return run(ctx);
  },
});
