/**
 * The libtorch addon (native/), loaded once per process, and why it is absent when it is.
 *
 * The addon is built by `npm install` (scripts/build-native.mjs) only where a libtorch and a C++ toolchain exist; the
 * build records its outcome in native/build-config/status.json, which is how a missing backend explains itself.
 */
import {existsSync, readFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

/** An opaque handle owning one native tensor. */
export type Handle = {readonly __torchTensor: never};

/** The tfjs dtypes the addon stores, by code. */
export const DTYPE_CODES = {float32: 0, int32: 1, bool: 2} as const;
export type TorchDType = keyof typeof DTYPE_CODES;
export const DTYPES: readonly TorchDType[] = ['float32', 'int32', 'bool'];

/** Byte counters of the addon's caching CPU allocator. */
export interface TorchMemoryStats {
  readonly inUse: number;
  readonly cached: number;
  readonly peakInUse: number;
  readonly osAllocated: number;
}

/** What native/src/addon.cc and ops.cc export. Shapes and axes are plain number arrays. */
export interface TorchBinding {
  readonly torchVersion: string;
  readonly cudaAvailable: boolean;
  fromArray(values: Float32Array | Int32Array | Uint8Array, shape: readonly number[], dtype: number): Handle;
  toArray(h: Handle): Float32Array | Int32Array | Uint8Array;
  release(h: Handle): void;
  /** [dtypeCode, ...shape] */
  info(h: Handle): number[];
  setThreads(n: number): void;
  getThreads(): number;
  setDevice(kind: 'cpu' | 'cuda', index: number): void;
  memoryStats(): TorchMemoryStats;
  resetPeak(): void;
  emptyCache(): void;
  setCacheLimit(bytes: number): void;

  unary(name: string, x: Handle): Handle;
  binary(name: string, a: Handle, b: Handle): Handle;
  leakyRelu(x: Handle, alpha: number): Handle;
  step(x: Handle, alpha: number): Handle;
  clipByValue(x: Handle, min: number, max: number): Handle;
  addN(xs: Handle[]): Handle;
  select(condition: Handle, a: Handle, b: Handle): Handle;
  cast(x: Handle, dtype: number): Handle;
  reduce(name: string, x: Handle, axes: readonly number[], keepDims: boolean): Handle;
  argMinMax(x: Handle, axis: number, isMax: boolean): Handle;
  softmax(x: Handle, dim: number): Handle;
  logSoftmax(x: Handle, dim: number): Handle;
  cumsum(x: Handle, axis: number, exclusive: boolean, reverse: boolean): Handle;
  reshape(x: Handle, shape: readonly number[]): Handle;
  transpose(x: Handle, perm: readonly number[]): Handle;
  identity(x: Handle): Handle;
  slice(x: Handle, begin: readonly number[], size: readonly number[]): Handle;
  stridedSlice(x: Handle, begin: readonly number[], end: readonly number[], strides: readonly number[]): Handle;
  concat(xs: Handle[], axis: number): Handle;
  pack(xs: Handle[], axis: number): Handle;
  pad(x: Handle, paddings: readonly number[], value: number): Handle;
  tile(x: Handle, reps: readonly number[]): Handle;
  expand(x: Handle, shape: readonly number[]): Handle;
  reverse(x: Handle, dims: readonly number[]): Handle;
  gather(x: Handle, indices: Handle, axis: number, batchDims: number): Handle;
  unsortedSegmentSum(x: Handle, ids: Handle, numSegments: number): Handle;
  fill(shape: readonly number[], value: number, dtype: number): Handle;
  range(start: number, stop: number, step: number, dtype: number): Handle;
  oneHot(indices: Handle, depth: number, on: number, off: number, dtype: number): Handle;
  batchMatMul(a: Handle, b: Handle, transposeA: boolean, transposeB: boolean): Handle;
  conv2d(x: Handle, w: Handle, stride: number[], pads: number[], dilation: number[], depthwise: boolean): Handle;
  conv2dBackpropInput(dy: Handle, w: Handle, inputShape: readonly number[], stride: number[], pads: number[], dilation: number[], depthwise: boolean): Handle;
  conv2dBackpropFilter(x: Handle, dy: Handle, filterShape: readonly number[], stride: number[], pads: number[], dilation: number[], depthwise: boolean): Handle;
  avgPool(x: Handle, kernel: number[], stride: number[], pads: number[]): Handle;
  avgPoolGrad(dy: Handle, x: Handle, kernel: number[], stride: number[], pads: number[]): Handle;
  maxPool(x: Handle, kernel: number[], stride: number[], pads: number[]): Handle;
  maxPoolGrad(dy: Handle, x: Handle, kernel: number[], stride: number[], pads: number[]): Handle;
  splitV(x: Handle, sizes: readonly number[], axis: number): Handle[];
  unpack(x: Handle, axis: number): Handle[];
  topK(x: Handle, k: number, sorted: boolean): Handle[];
  instanceNorm(x: Handle, gamma: Handle, beta: Handle, eps: number): Handle;
  instanceNormGrad(dy: Handle, x: Handle, gamma: Handle, eps: number): Handle[];
  batchNormTrain(x: Handle, gamma: Handle, beta: Handle, eps: number): Handle[];
  batchNormTrainGrad(dy: Handle, x: Handle, gamma: Handle, eps: number): Handle[];
}

/** Where the package's files are: the nearest folder above this file with a package.json (sources or dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) return dirname(fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

const ROOT = packageRoot();
/** The built addon. */
export const ADDON_PATH = join(ROOT, 'native', 'build', 'Release', 'distillery_torch.node');
const STATUS_PATH = join(ROOT, 'native', 'build-config', 'status.json');

/** What the install-time build recorded. */
export interface NativeBuildStatus {
  readonly built: boolean;
  readonly reason?: string;
  readonly libtorch?: {readonly source: string; readonly version: string; readonly cuda: boolean};
  /** A hash of the addon's sources when it was built (part of keys). */
  readonly sources?: string;
}

/**
 * The build's record for an addon at `addon` with its record at `status`, or a stand-in that says the build never
 * ran. Reads files only (no addon load), so the planner can call it.
 */
export function readBuildStatus(addon: string, status: string): NativeBuildStatus {
  let recorded: NativeBuildStatus | undefined;
  try {
    recorded = JSON.parse(readFileSync(status, 'utf8')) as NativeBuildStatus;
  } catch {
    recorded = undefined;
  }
  if (existsSync(addon)) return recorded?.built === true ? recorded : {built: true};
  if (recorded === undefined) {
    return {built: false, reason: 'the libtorch addon was never built (run `npm install` where libtorch-dev is installed)'};
  }
  return recorded.built ? {built: false, reason: `the built addon ${addon} is missing (run \`npm install\` again)`} : recorded;
}

/** This package's build record (see readBuildStatus). */
export function nativeBuildStatus(): NativeBuildStatus {
  return readBuildStatus(ADDON_PATH, STATUS_PATH);
}

let binding: TorchBinding | undefined;

/** Loads the addon once. Throws a message naming the cause when it is missing or does not load. */
export function loadTorchBinding(): TorchBinding {
  if (binding !== undefined) return binding;
  const status = nativeBuildStatus();
  if (!existsSync(ADDON_PATH)) throw new Error(status.reason ?? 'the libtorch addon is not built');
  binding = createRequire(import.meta.url)(ADDON_PATH) as TorchBinding;
  return binding;
}
