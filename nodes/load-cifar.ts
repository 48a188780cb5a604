/**
 * `loadCIFAR`: CIFAR-10 from the official binary files (loose, in `cifar-10-batches-bin/`, or the `.tar.gz`), as one
 * `Dataset` artifact; downloads the archive when allowed and missing. A missing data set fails with the loader's
 * message, which says which files to put where.
 */
import {loadCifar10} from '../ml/data/cifar10.js';
import type {DownloadProgress} from '../ml/data/download.js';
import {defineNode} from './api.js';
import {writeDatasetArtifact} from './artifacts.js';
import {LIMIT_PARAMS, limitSplit} from './subset-limit.js';

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
  },
});
