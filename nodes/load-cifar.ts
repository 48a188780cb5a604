/**
 * `loadCIFAR`: CIFAR-10 from the official binary files (loose, in `cifar-10-batches-bin/`, or the `.tar.gz`), as one
 * `Dataset` artifact; downloads the archive when allowed and missing. A missing data set fails with the loader's
 * message, which says which files to put where.
 */
import {defineNode} from './api.js';
import {LIMIT_PARAMS} from './subset-limit.js';

/** Params of {@link loadCIFAR}. */
export interface LoadCifarParams {
  readonly root?: string;
  readonly trainLimit?: number;
  readonly testLimit?: number;
  readonly subsetSeed: number;
  readonly download: boolean;
}

/** The node type. */
export const loadCIFAR = defineNode<LoadCifarParams>({
  type: 'loadCIFAR',
  description: 'CIFAR-10 (32x32 RGB, 10 classes) from the official binary files, optionally a stratified subset.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      root: {type: 'string', description: 'Folder with the files (default: $DISTILLERY_CIFAR10, else data/cifar-10).'},
      download: {type: 'boolean', default: false, description: 'Download the official archive (MD5-checked) when no files are found.'},
      ...LIMIT_PARAMS,
    },
  },
  outputs: {data: {kind: 'Dataset', description: 'train and test splits (safetensors, raw 8-bit pixels)'}},
  async run(ctx) {
    const {run} = await import('./load-cifar-run.js');
    return run(ctx);
  },
});
