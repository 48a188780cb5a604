/**
 * NumPy `.npz` archives (a zip of `<name>.npy` members, as `numpy.savez` writes), and the synthetic-set export.
 *
 * The export is the hand-off to Python users: `np.load('set.npz')` gives `x` float32 [N, C, H, W] (PyTorch's layout,
 * so it drops into the reference code), `y` int64 [N], the learned learning rate `lr` as a float32 scalar, and the
 * per-channel `mean`/`std` needed to undo the normalisation.
 */
import {readFile, rename, rm, writeFile} from 'node:fs/promises';
import {randomBytes} from 'node:crypto';
import {basename, dirname, join} from 'node:path';
import {unzipSync, zipSync} from 'fflate';
import type {Zippable} from 'fflate';
import type {ElementType, TensorData} from './element-type.js';
import {decodeNpy, encodeNpy, type NpyArray} from './npy.js';
import {TensorFileError} from './tensor-file-error.js';
import type {Dataset} from '../data/dataset.js';

/** Arrays to put into an archive, by name (without `.npy`). */
export type NpzInput = Readonly<Record<string, {readonly type?: ElementType; readonly shape: readonly number[]; readonly data: TensorData}>>;

/** Builds `.npz` bytes. Members are stored uncompressed like `numpy.savez`, or deflated like `savez_compressed`. */
export function encodeNpz(arrays: NpzInput, options: {readonly compress?: boolean} = {}): Uint8Array {
  const files: Zippable = {};
  for (const [name, array] of Object.entries(arrays)) {
    files[`${name}.npy`] = [encodeNpy(array), {level: options.compress === true ? 6 : 0}];
  }
  return zipSync(files);
}

/** Reads `.npz` bytes into arrays by name (the `.npy` suffix dropped). */
export function decodeNpz(bytes: Uint8Array, file?: string): Map<string, NpyArray> {
  let members: Record<string, Uint8Array>;
  try {
    members = unzipSync(bytes);
  } catch (error) {
    throw new TensorFileError({
      reason: 'tensor-file-invalid',
      format: 'npz',
      detail: `not a zip archive (${error instanceof Error ? error.message : String(error)})`,
      ...(file === undefined ? {} : {file}),
    });
  }
  const out = new Map<string, NpyArray>();
  for (const [name, data] of Object.entries(members)) {
    if (!name.endsWith('.npy')) continue;
    out.set(name.slice(0, -4), decodeNpy(data, `${file ?? 'npz'}:${name}`));
  }
  return out;
}

/** Reads a `.npz` file. */
export async function readNpz(path: string): Promise<Map<string, NpyArray>> {
  return decodeNpz(new Uint8Array(await readFile(path)), path);
}

/** Writes a `.npz` file atomically (temporary name, then rename). */
export async function writeNpz(path: string, arrays: NpzInput, options: {readonly compress?: boolean} = {}): Promise<void> {
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.part`);
  try {
    await writeFile(temp, encodeNpz(arrays, options));
    await rename(temp, path);
  } catch (error) {
    await rm(temp, {force: true});
    throw error;
  }
}

/** A synthetic (or any) image set as it lives in memory: NHWC, normalised. */
export type SyntheticSetArrays = Pick<Dataset, 'x' | 'y' | 'n' | 'height' | 'width' | 'channels' | 'mean' | 'std'> & {
  /** The learned learning rate (MTT's syn_lr). */
  readonly lr: number;
};

/** NHWC -> NCHW copy. */
export function nhwcToNchw(x: Float32Array, n: number, height: number, width: number, channels: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = height * width;
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < channels; c++) {
        out[(i * channels + c) * plane + p] = x[(i * plane + p) * channels + c] ?? 0;
      }
    }
  }
  return out;
}

/** NCHW -> NHWC copy (for reading an exported set back). */
export function nchwToNhwc(x: Float32Array, n: number, channels: number, height: number, width: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = height * width;
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < plane; p++) {
        out[(i * plane + p) * channels + c] = x[(i * channels + c) * plane + p] ?? 0;
      }
    }
  }
  return out;
}

/** The arrays of the synthetic-set export: x float32 [N,C,H,W], y int64 [N], lr float32 (), mean/std float32 [C]. */
export function syntheticSetArrays(set: SyntheticSetArrays): NpzInput {
  const {n, height, width, channels} = set;
  if (set.x.length !== n * height * width * channels || set.y.length !== n) {
    throw new RangeError(`x has ${set.x.length} values and y ${set.y.length} for ${n} images of ${height}x${width}x${channels}`);
  }
  if (set.mean.length !== channels || set.std.length !== channels) {
    throw new RangeError(`mean/std need ${channels} values`);
  }
  return {
    x: {type: 'float32', shape: [n, channels, height, width], data: nhwcToNchw(set.x, n, height, width, channels)},
    y: {type: 'int64', shape: [n], data: set.y},
    lr: {type: 'float32', shape: [], data: Float32Array.of(set.lr)},
    mean: {type: 'float32', shape: [channels], data: Float32Array.from(set.mean)},
    std: {type: 'float32', shape: [channels], data: Float32Array.from(set.std)},
  };
}

/** Writes the synthetic-set export (see `syntheticSetArrays`). */
export async function writeSyntheticSetNpz(path: string, set: SyntheticSetArrays): Promise<void> {
  await writeNpz(path, syntheticSetArrays(set));
}

/** Reads a synthetic-set export back into the in-memory layout (NHWC, int32 labels). */
export async function readSyntheticSetNpz(path: string): Promise<SyntheticSetArrays> {
  const arrays = await readNpz(path);
  const get = (name: string): NpyArray => {
    const array = arrays.get(name);
    if (array === undefined) {
      throw new TensorFileError({reason: 'tensor-file-invalid', format: 'npz', file: path, detail: `no ${name}.npy member`});
    }
    return array;
  };
  const x = get('x');
  const [n = 0, channels = 0, height = 0, width = 0] = x.shape;
  if (x.type !== 'float32' || x.shape.length !== 4) {
    throw new TensorFileError({reason: 'tensor-file-invalid', format: 'npz', file: path, detail: 'x must be float32 [N, C, H, W]'});
  }
  const y = get('y');
  const labels = Int32Array.from(y.data as ArrayLike<number | bigint>, (v) => Number(v));
  return {
    x: nchwToNhwc(x.data as Float32Array, n, channels, height, width),
    y: labels,
    n,
    height,
    width,
    channels,
    lr: Number(get('lr').data[0] ?? NaN),
    mean: Array.from(get('mean').data as Float32Array),
    std: Array.from(get('std').data as Float32Array),
  };
}
