/**
 * `selectRandom`: the baseline every distilled set is compared with: `ipc` random real training images per class
 * (class-major, seeded), written in the same `SyntheticSet` format as a distilled set so the same student and
 * evaluation nodes take it.
 */
import {randomPerClass} from '../ml/data/dataset.js';
import {defineNode} from './api.js';
import {inputPath, readDatasetArtifact, writeSyntheticSetArtifact} from './artifacts.js';

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
    const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
    const set = randomPerClass(data.train, ctx.params.ipc, ctx.seed);
    await writeSyntheticSetArtifact(ctx.file('set', '.safetensors'), {
      set,
      lr: ctx.params.lr,
      provenance: {source: 'random', ipc: ctx.params.ipc},
    });
    ctx.metric('images', set.n);
    ctx.progress(1);
  },
});
