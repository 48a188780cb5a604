/**
 * Applies the loaders' `trainLimit` / `testLimit` params (subset-limit.ts). Apart from the schema because the data set
 * helpers import TensorFlow.js: only the loaders' run files import this module.
 */
import type {Dataset} from '../ml/data/dataset.js';
import {subset} from '../ml/data/dataset.js';

/** `ds` itself when `limit` is undefined or not below its size, else a stratified random subset of about `limit`. */
export function limitSplit(ds: Dataset, limit: number | undefined, seed: number): Dataset {
  if (limit === undefined || limit >= ds.n) return ds;
  const perClass = Math.max(1, Math.floor(limit / ds.classes));
  return subset(ds, {perClass, seed});
}
