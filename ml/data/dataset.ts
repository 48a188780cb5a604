/**
 * The in-memory data set every loader returns, and the helpers that cut it into subsets.
 *
 * Images are kept as one normalised Float32Array in NHWC order because that is what tfjs convolutions take, so
 * `toTensors` needs no transpose and a subset is a plain gather. `mean`/`std` travel with the data so that
 * display code (`denormalise`, PNG grids) and exported synthetic sets can undo the normalisation.
 */
import * as tf from '@tensorflow/tfjs-core';
import {DataError} from './data-error.js';
import {createRng} from '../rng.js';

/** A labelled image set, normalised per channel as `(x/255 - mean[c]) / std[c]`. */
export interface Dataset {
  /** Normalised pixels, length `n*height*width*channels`, NHWC. */
  readonly x: Float32Array;
  /** Class index of each image, length `n`. */
  readonly y: Int32Array;
  readonly n: number;
  readonly height: number;
  readonly width: number;
  readonly channels: number;
  /** Number of classes (labels are `0..classes-1`). */
  readonly classes: number;
  readonly classNames: readonly string[];
  /** Per-channel mean that was subtracted (in [0,1] pixel units), length `channels`. */
  readonly mean: readonly number[];
  /** Per-channel standard deviation that was divided by, length `channels`. */
  readonly std: readonly number[];
}

/** How to pick a subset: the first `first` images, or `perClass` random images of every class (deterministic in `seed`). */
export type SubsetSpec = {readonly first: number} | {readonly perClass: number; readonly seed: number};

/** The images at `indices`, in that order. */
export function subsetIndices(ds: Dataset, indices: readonly number[]): Dataset {
  const size = ds.height * ds.width * ds.channels;
  const x = new Float32Array(indices.length * size);
  const y = new Int32Array(indices.length);
  indices.forEach((src, dst) => {
    if (!Number.isInteger(src) || src < 0 || src >= ds.n) {
      throw new RangeError(`subset index ${src} is outside 0..${ds.n - 1}`);
    }
    x.set(ds.x.subarray(src * size, (src + 1) * size), dst * size);
    y[dst] = ds.y[src] ?? 0;
  });
  return {...ds, x, y, n: indices.length};
}

/**
 * A subset. `{first}` keeps the order of the file (quick runs); `{perClass, seed}` is stratified and returned
 * class-major (all class-0 images, then class 1, ...), which is the label layout MTT uses for synthetic sets.
 * Throws a `DataError` (`not-enough-images`) when a class has fewer images than asked for.
 */
export function subset(ds: Dataset, spec: SubsetSpec): Dataset {
  if ('first' in spec) {
    const count = Math.min(Math.max(0, Math.floor(spec.first)), ds.n);
    return subsetIndices(
      ds,
      Array.from({length: count}, (_, i) => i),
    );
  }
  return subsetIndices(ds, stratifiedIndices(ds, spec.perClass, spec.seed));
}

/**
 * The random baseline of dataset distillation: `ipc` real images per class drawn at random, class-major, so it can be
 * compared one-to-one with a distilled set of the same images per class.
 */
export function randomPerClass(ds: Dataset, ipc: number, seed: number): Dataset {
  return subset(ds, {perClass: ipc, seed});
}

/** Indices of `perClass` random images of every class, class-major; within a class in the order drawn. */
export function stratifiedIndices(ds: Dataset, perClass: number, seed: number): number[] {
  const byClass: number[][] = Array.from({length: ds.classes}, () => []);
  for (let i = 0; i < ds.n; i++) byClass[ds.y[i] ?? 0]?.push(i);
  const rng = createRng(seed);
  const out: number[] = [];
  byClass.forEach((members, classIndex) => {
    if (members.length < perClass) {
      throw new DataError({reason: 'not-enough-images', classIndex, wanted: perClass, available: members.length});
    }
    // A partial Fisher-Yates shuffle: the first `perClass` slots become a uniform random sample without replacement.
    for (let k = 0; k < perClass; k++) {
      const j = rng.int(k, members.length);
      const a = members[k] ?? 0;
      members[k] = members[j] ?? 0;
      members[j] = a;
    }
    out.push(...members.slice(0, perClass));
  });
  return out;
}

/** Images per class (a histogram of `y`). */
export function classCounts(ds: Pick<Dataset, 'y' | 'classes'>): number[] {
  const counts = new Array<number>(ds.classes).fill(0);
  for (const label of ds.y) counts[label] = (counts[label] ?? 0) + 1;
  return counts;
}

/** The data set as tfjs tensors: x [N,H,W,C] float32 and y [N] int32. The caller owns (and disposes) them. */
export function toTensors(ds: Dataset): {x: tf.Tensor4D; y: tf.Tensor1D} {
  return {
    x: tf.tensor4d(ds.x, [ds.n, ds.height, ds.width, ds.channels], 'float32'),
    y: tf.tensor1d(ds.y, 'int32'),
  };
}

/**
 * Undoes the normalisation of NHWC pixels: `x*std[c] + mean[c]`, back in [0,1] pixel units (not clipped, because
 * distilled images leave that range; display code clips).
 */
export function denormalise(x: Float32Array, mean: readonly number[], std: readonly number[]): Float32Array {
  const channels = mean.length;
  if (channels === 0 || std.length !== channels) {
    throw new RangeError(`mean and std must have the same, non-zero length (got ${mean.length} and ${std.length})`);
  }
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const c = i % channels;
    out[i] = (x[i] ?? 0) * (std[c] ?? 1) + (mean[c] ?? 0);
  }
  return out;
}

/**
 * Normalises raw 8-bit pixels laid out NHWC into `out`: `(v/255 - mean[c]) / std[c]` (the MTT/torchvision
 * convention of `ToTensor()` followed by `Normalize(mean, std)`).
 */
export function normaliseBytesInto(
  bytes: Uint8Array,
  out: Float32Array,
  offset: number,
  mean: readonly number[],
  std: readonly number[],
): void {
  const channels = mean.length;
  for (let i = 0; i < bytes.length; i++) {
    const c = i % channels;
    out[offset + i] = ((bytes[i] ?? 0) / 255 - (mean[c] ?? 0)) / (std[c] ?? 1);
  }
}

