/**
 * `loadFashionMNIST`: the real Fashion-MNIST (Debian's `dataset-fashion-mnist`, or the IDX files anywhere), as one
 * `Dataset` artifact. A missing data set fails with the loader's message, which says what to install.
 */
import {loadFashionMnist} from '../ml/data/fashion-mnist.js';
import {defineNode} from './api.js';
import {writeDatasetArtifact} from './artifacts.js';
import {LIMIT_PARAMS, limitSplit} from './subset-limit.js';

/** Params of {@link loadFashionMNIST}. */
export interface LoadFashionMnistParams {
  readonly root?: string;
  readonly trainLimit?: number;
  readonly testLimit?: number;
  readonly subsetSeed: number;
}

/** The node type. */
export const loadFashionMNIST = defineNode<LoadFashionMnistParams>({
  type: 'loadFashionMNIST',
  description: 'Fashion-MNIST (28x28 grey, 10 classes) from its IDX files, optionally a stratified subset.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      root: {
        type: 'string',
        description: 'Folder with the IDX files (default: $DISTILLERY_FASHION_MNIST, else /usr/share/datasets/fashion-mnist/).',
      },
      ...LIMIT_PARAMS,
    },
  },
  outputs: {data: {kind: 'Dataset', description: 'train and test splits (safetensors, raw 8-bit pixels)'}},
  async run(ctx) {
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
  },
});
