/**
 * `loadFashionMNIST`: the real Fashion-MNIST (Debian's `dataset-fashion-mnist`, or the IDX files anywhere), as one
 * `Dataset` artifact. A missing data set fails with the loader's message, which says what to install.
 */
import {defineNode} from './api.js';
import {LIMIT_PARAMS} from './subset-limit.js';

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
    const {run} = await import('./load-fashion-mnist-run.js');
    return run(ctx);
  },
});
