/**
 * The file formats of the built-in artifact kinds, all safetensors with JSON strings in `__metadata__`, so that every
 * artifact is one self-contained file that Python (`safetensors.numpy.load_file`) reads as well:
 *
 * - `Dataset`: `train_x`/`test_x` U8 [N,H,W,C] raw pixels, `train_y`/`test_y` I32 [N]; metadata `name`, `mean`, `std`,
 *   `classNames`, `shape` ([H,W,C]). Raw bytes (re-quantised exactly from the loader's normalised floats) are 4x
 *   smaller than floats, and normalising them again gives bit-identical floats (same float64 formula).
 * - `Trajectories`: `trajectory` F32 [epochs+1, P] (row 0 = init); metadata `arch`, `lr`, `epochs`.
 * - `Model`: `params` F32 [S, P] and `buffers` F32 [S, B] for S seeds (batch-norm statistics; B may be 0); metadata
 *   `arch`, `provenance`.
 * - `SyntheticSet`: `x` F32 [N,H,W,C] normalised, `y` I32 [N] class-major, `lr` F32 [1]; metadata `mean`, `std`,
 *   `classNames`, `provenance`.
 * `provenance` is a JSON object saying what the artifact was made from (e.g. `{"source":"distilled","alpha":0.3}`), so
 * that the evaluation and the report can label rows without being told.
 */
import type {Dataset} from '../ml/data/dataset.js';
import {normaliseBytesInto} from '../ml/data/dataset.js';
import {openSafetensors, readSafetensors, stackedTensor, writeSafetensors} from '../ml/io/safetensors.js';
import type {StoredTensor} from '../ml/io/safetensors.js';
import type {JsonObject} from './api.js';
import type {ArchSpec} from './model-spec.js';
import {parseArch} from './model-spec.js';

/** A train and a test split of one data set. */
export interface DatasetArtifact {
  readonly name: string;
  readonly train: Dataset;
  readonly test: Dataset;
}

/** Expert trajectory snapshots (entry e = after e epochs) and the network they belong to. */
export interface TrajectoryArtifact {
  readonly arch: ArchSpec;
  readonly lr: number;
  readonly snapshots: readonly Float32Array[];
}

/** Trained weights of one or more seeds of one architecture. */
export interface ModelArtifact {
  readonly arch: ArchSpec;
  readonly params: readonly Float32Array[];
  /** Running statistics per seed (empty arrays for models without state). */
  readonly buffers: readonly Float32Array[];
  readonly provenance: JsonObject;
}

/** A (synthetic or real-subset) training set with the learning rate to train on it with. */
export interface SyntheticSetArtifact {
  readonly set: Dataset;
  readonly lr: number;
  readonly provenance: JsonObject;
}

function tensorOf(tensors: ReadonlyMap<string, StoredTensor>, name: string, file: string): StoredTensor {
  const t = tensors.get(name);
  if (t === undefined) throw new Error(`${file}: no tensor "${name}" (is it the right kind of artifact?)`);
  return t;
}

function jsonMeta<T>(metadata: Readonly<Record<string, string>>, key: string, file: string): T {
  const text = metadata[key];
  if (text === undefined) throw new Error(`${file}: no "${key}" in its metadata`);
  return JSON.parse(text) as T;
}

/**
 * The 8-bit pixels a loader's normalised floats came from: round((x * std + mean) * 255). Exact, because the
 * float32 rounding error of the normalised value is orders of magnitude below half a grey level.
 */
export function quantise(ds: Dataset): Uint8Array {
  const out = new Uint8Array(ds.x.length);
  const c = ds.channels;
  for (let i = 0; i < ds.x.length; i++) {
    const ch = i % c;
    const v = Math.round(((ds.x[i] ?? 0) * (ds.std[ch] ?? 1) + (ds.mean[ch] ?? 0)) * 255);
    out[i] = v < 0 ? 0 : v > 255 ? 255 : v;
  }
  return out;
}

/** Writes both splits of a data set (see the module comment). */
export async function writeDatasetArtifact(path: string, data: DatasetArtifact): Promise<void> {
  const {train, test} = data;
  const shape = [train.height, train.width, train.channels];
  await writeSafetensors(
    path,
    {
      train_x: {dtype: 'U8', shape: [train.n, ...shape], data: quantise(train)},
      train_y: {dtype: 'I32', shape: [train.n], data: train.y},
      test_x: {dtype: 'U8', shape: [test.n, ...shape], data: quantise(test)},
      test_y: {dtype: 'I32', shape: [test.n], data: test.y},
    },
    {
      name: data.name,
      mean: JSON.stringify(train.mean),
      std: JSON.stringify(train.std),
      classNames: JSON.stringify(train.classNames),
      shape: JSON.stringify(shape),
    },
  );
}

/** Reads a `Dataset` artifact back into two normalised in-memory data sets. */
export async function readDatasetArtifact(path: string): Promise<DatasetArtifact> {
  const {tensors, metadata} = await readSafetensors(path);
  const mean = jsonMeta<number[]>(metadata, 'mean', path);
  const std = jsonMeta<number[]>(metadata, 'std', path);
  const classNames = jsonMeta<string[]>(metadata, 'classNames', path);
  const [height = 0, width = 0, channels = 0] = jsonMeta<number[]>(metadata, 'shape', path);
  const split = (prefix: 'train' | 'test'): Dataset => {
    const xs = tensorOf(tensors, `${prefix}_x`, path);
    const ys = tensorOf(tensors, `${prefix}_y`, path);
    const bytes = xs.data as Uint8Array;
    const x = new Float32Array(bytes.length);
    normaliseBytesInto(bytes, x, 0, mean, std);
    const y = ys.data instanceof Int32Array ? ys.data : Int32Array.from(ys.data as ArrayLike<number>);
    return {x, y, n: y.length, height, width, channels, classes: classNames.length, classNames, mean, std};
  };
  return {name: metadata['name'] ?? 'dataset', train: split('train'), test: split('test')};
}

/** Writes an expert trajectory. */
export async function writeTrajectoryArtifact(path: string, t: TrajectoryArtifact): Promise<void> {
  await writeSafetensors(path, {trajectory: stackedTensor([...t.snapshots])}, {
    arch: JSON.stringify(t.arch),
    lr: String(t.lr),
    epochs: String(t.snapshots.length - 1),
  });
}

/**
 * Reads the first `count` snapshots of a trajectory (all when undefined): distillation only needs the epochs up to
 * max_start_epoch + expert_epochs, and a long trajectory need not be read whole.
 */
export async function readTrajectoryArtifact(path: string, count?: number): Promise<TrajectoryArtifact> {
  const reader = await openSafetensors(path);
  try {
    const info = reader.header.tensors.find((t) => t.name === 'trajectory');
    if (info === undefined) throw new Error(`${path}: no tensor "trajectory" (is it a Trajectories artifact?)`);
    const [rows = 0, size = 0] = info.shape;
    const take = count === undefined ? rows : Math.min(rows, count);
    const stored = await reader.read('trajectory', {first: 0, count: take});
    const data = stored.data as Float32Array;
    const snapshots = Array.from({length: take}, (_, i) => data.subarray(i * size, (i + 1) * size));
    const metadata = reader.header.metadata;
    return {arch: parseArch(metadata['arch'], path), lr: Number(metadata['lr'] ?? Number.NaN), snapshots};
  } finally {
    await reader.close();
  }
}

/** Number of snapshots stored in a trajectory file, without reading them. */
export async function trajectoryLength(path: string): Promise<number> {
  const reader = await openSafetensors(path);
  try {
    return reader.header.tensors.find((t) => t.name === 'trajectory')?.shape[0] ?? 0;
  } finally {
    await reader.close();
  }
}

/** Writes a model (one or more seeds). */
export async function writeModelArtifact(path: string, m: ModelArtifact): Promise<void> {
  const bufferSize = m.buffers[0]?.length ?? 0;
  await writeSafetensors(
    path,
    {
      params: stackedTensor([...m.params]),
      buffers: {dtype: 'F32', shape: [m.buffers.length, bufferSize], data: [...m.buffers]},
    },
    {arch: JSON.stringify(m.arch), provenance: JSON.stringify(m.provenance)},
  );
}

/** Reads a model artifact. */
export async function readModelArtifact(path: string): Promise<ModelArtifact> {
  const {tensors, metadata} = await readSafetensors(path);
  const rows = (name: string): Float32Array[] => {
    const t = tensorOf(tensors, name, path);
    const [s = 0, size = 0] = t.shape;
    const data = t.data as Float32Array;
    return Array.from({length: s}, (_, i) => data.subarray(i * size, (i + 1) * size));
  };
  return {
    arch: parseArch(metadata['arch'], path),
    params: rows('params'),
    buffers: rows('buffers'),
    provenance: metadata['provenance'] === undefined ? {} : (JSON.parse(metadata['provenance']) as JsonObject),
  };
}

/** Writes a synthetic (or real-subset) set. */
export async function writeSyntheticSetArtifact(path: string, s: SyntheticSetArtifact): Promise<void> {
  const {set} = s;
  await writeSafetensors(
    path,
    {
      x: {dtype: 'F32', shape: [set.n, set.height, set.width, set.channels], data: set.x},
      y: {dtype: 'I32', shape: [set.n], data: set.y},
      lr: {dtype: 'F32', shape: [1], data: Float32Array.of(s.lr)},
    },
    {
      mean: JSON.stringify(set.mean),
      std: JSON.stringify(set.std),
      classNames: JSON.stringify(set.classNames),
      provenance: JSON.stringify(s.provenance),
    },
  );
}

/** Reads a synthetic set. */
export async function readSyntheticSetArtifact(path: string): Promise<SyntheticSetArtifact> {
  const {tensors, metadata} = await readSafetensors(path);
  const x = tensorOf(tensors, 'x', path);
  const y = tensorOf(tensors, 'y', path);
  const [n = 0, height = 0, width = 0, channels = 0] = x.shape;
  const classNames = jsonMeta<string[]>(metadata, 'classNames', path);
  const set: Dataset = {
    x: x.data as Float32Array,
    y: y.data instanceof Int32Array ? y.data : Int32Array.from(y.data as ArrayLike<number>),
    n,
    height,
    width,
    channels,
    classes: classNames.length,
    classNames,
    mean: jsonMeta<number[]>(metadata, 'mean', path),
    std: jsonMeta<number[]>(metadata, 'std', path),
  };
  const lr = (tensorOf(tensors, 'lr', path).data as Float32Array)[0] ?? Number.NaN;
  const provenance = metadata['provenance'] === undefined ? {} : (JSON.parse(metadata['provenance']) as JsonObject);
  return {set, lr, provenance};
}

/** The path of a file input; throws a clear message when a port got JSON or nothing. */
export function inputPath(value: unknown, port: string): string {
  if (typeof value !== 'string') throw new Error(`input "${port}" must be connected to a file artifact`);
  return value;
}

/** The paths of a `many` file input. */
export function inputPaths(value: unknown, port: string): string[] {
  if (value === undefined) return [];
  const list = Array.isArray(value) ? (value as unknown[]) : [value];
  return list.map((v) => inputPath(v, port));
}
