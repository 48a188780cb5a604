/**
 * The `trainLimit` / `testLimit` params of the loader nodes: a quick run on a subset must keep the classes balanced
 * (a prefix of the file need not be), so a limit becomes floor(limit / classes) random images per class.
 */
import type {Dataset} from '../ml/data/dataset.js';
import {subset} from '../ml/data/dataset.js';

/** `ds` itself when `limit` is undefined or not below its size, else a stratified random subset of about `limit`. */
export function limitSplit(ds: Dataset, limit: number | undefined, seed: number): Dataset {
  if (limit === undefined || limit >= ds.n) return ds;
  const perClass = Math.max(1, Math.floor(limit / ds.classes));
  return subset(ds, {perClass, seed});
}

/** The JSON Schema properties of the loaders' subset params. */
export const LIMIT_PARAMS = {
  trainLimit: {
    type: 'integer',
    minimum: 1,
    description: 'Keep about this many training images (floor(trainLimit / classes) per class, drawn with subsetSeed).',
  },
  testLimit: {
    type: 'integer',
    minimum: 1,
    description: 'Keep about this many test images (stratified like trainLimit).',
  },
  subsetSeed: {type: 'integer', default: 0, description: 'Seed of the stratified subsets.'},
} as const;
