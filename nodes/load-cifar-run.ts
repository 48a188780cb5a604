/**
 * The implementation of `loadCIFAR` (see load-cifar.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import {loadCifar10} from '../ml/data/cifar10.js';
import type {DownloadProgress} from '../ml/data/download.js';
import type {NodeContext} from './api.js';
import {writeDatasetArtifact} from './artifacts.js';
import {limitSplit} from './limit-split.js';
import type {LoadCifarParams} from './load-cifar.js';

/** Runs one `loadCIFAR` instance. */
export async function run(ctx: NodeContext<LoadCifarParams>): Promise<void> {
  const p = ctx.params;
  const common = {
    ...(p.root === undefined ? {} : {root: p.root}),
    download: p.download,
    signal: ctx.signal,
    onDownloadProgress: (d: DownloadProgress) => {
      if (d.totalBytes !== undefined && d.totalBytes > 0) ctx.progress(0.4 * (d.receivedBytes / d.totalBytes), {step: 'download'});
    },
  };
  ctx.progress(0, {step: 'train'});
  const train = limitSplit(await loadCifar10({split: 'train', ...common}), p.trainLimit, p.subsetSeed);
  ctx.signal.throwIfAborted();
  ctx.progress(0.5, {step: 'test'});
  const test = limitSplit(await loadCifar10({split: 'test', ...common}), p.testLimit, p.subsetSeed + 1);
  await writeDatasetArtifact(ctx.file('data', '.safetensors'), {name: 'CIFAR-10', train, test});
  ctx.metric('train_images', train.n);
  ctx.metric('test_images', test.n);
  ctx.progress(1);
}
