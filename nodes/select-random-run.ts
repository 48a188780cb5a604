/**
 * The implementation of `selectRandom` (see select-random.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import {randomPerClass} from '../ml/data/dataset.js';
import type {NodeContext} from './api.js';
import {inputPath, readDatasetArtifact, writeSyntheticSetArtifact} from './artifacts.js';
import type {SelectRandomParams} from './select-random.js';

/** Runs one `selectRandom` instance. */
export async function run(ctx: NodeContext<SelectRandomParams>): Promise<void> {
  const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
  const set = randomPerClass(data.train, ctx.params.ipc, ctx.seed);
  await writeSyntheticSetArtifact(ctx.file('set', '.safetensors'), {
    set,
    lr: ctx.params.lr,
    provenance: {source: 'random', ipc: ctx.params.ipc},
  });
  ctx.metric('images', set.n);
  ctx.progress(1);
}
