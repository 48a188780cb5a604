/**
 * `selectRandom`: the baseline every distilled set is compared with: `ipc` random real training images per class
 * (class-major, seeded), written in the same `SyntheticSet` format as a distilled set so the same student and
 * evaluation nodes take it.
 */
import {defineNode} from './api.js';

/** Params of {@link selectRandom}. */
export interface SelectRandomParams {
  readonly ipc: number;
  readonly lr: number;
}

/** The node type. */
export const selectRandom = defineNode<SelectRandomParams>({
  type: 'selectRandom',
  description: 'A random real subset with ipc images per class (the random baseline).',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ipc: {type: 'integer', minimum: 1, default: 10, description: 'Images per class.'},
      lr: {type: 'number', exclusiveMinimum: 0, default: 0.01, description: 'Learning rate students train on this set with.'},
    },
  },
  inputs: {data: {kind: 'Dataset'}},
  outputs: {set: {kind: 'SyntheticSet', description: 'safetensors: x F32 [N,H,W,C], y I32 [N], lr F32 [1]'}},
  async run(ctx) {
    const {run} = await import('./select-random-run.js');
    return run(ctx);
  },
});
