/**
 * The implementation of `loadFashionMNIST` (see load-fashion-mnist.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import {loadFashionMnist} from '../ml/data/fashion-mnist.js';
import type {NodeContext} from './api.js';
import {writeDatasetArtifact} from './artifacts.js';
import {limitSplit} from './limit-split.js';
import type {LoadFashionMnistParams} from './load-fashion-mnist.js';

/** Runs one `loadFashionMNIST` instance. */
export async function run(ctx: NodeContext<LoadFashionMnistParams>): Promise<void> {
  const p = ctx.params;
  const root = p.root === undefined ? {} : {root: p.root};
  ctx.progress(0, {step: 'train'});
  const train = limitSplit(await loadFashionMnist({split: 'train', ...root}), p.trainLimit, p.subsetSeed);
  ctx.signal.throwIfAborted();
  ctx.progress(0.5, {step: 'test'});
  const test = limitSplit(await loadFashionMnist({split: 'test', ...root}), p.testLimit, p.subsetSeed + 1);
  await writeDatasetArtifact(ctx.file('data', '.safetensors'), {name: 'Fashion-MNIST', train, test});
  ctx.metric('train_images', train.n);
  ctx.metric('test_images', test.n);
  ctx.progress(1);
}
