/**
 * `trainExpert`: one expert trajectory for trajectory matching (spec section 1): a ConvNet trained on the real train
 * set with plain SGD (lr 0.01, no momentum, no weight decay, batch 256, DSA), saving the flat parameters after every
 * epoch (entry 0 = the initialisation). Used with `repeat: K`; each instance's seed gives its own init and order.
 */
import {defineNode} from './api.js';
import {CONVNET_PARAMS, type ConvNetSpec} from './model-spec.js';

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
    const {run} = await import('./train-expert-run.js');
    return run(ctx);
  },
});
