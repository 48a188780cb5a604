/**
 * A tfjs backend whose tensors live in libtorch: tfjs keeps the API, the tape and the models; every kernel is an ATen
 * call through the addon. Data never round-trips through JS between kernels (only `read`/`write` copy), so tensors are
 * not bounded by a 4 GB heap and convolutions run in oneDNN on channels-last views of tfjs's NHWC layout.
 */
import {DataStorage, KernelBackend, engine} from '@tensorflow/tfjs-core';
import type {BackendTimingInfo, BackendValues, DataId, DataType, TensorInfo} from '@tensorflow/tfjs-core';
import {DTYPES, DTYPE_CODES} from './native-binding.js';
import type {Handle, TorchBinding, TorchDType} from './native-binding.js';

/** The tfjs name of this backend. */
export const TORCH_BACKEND_NAME = 'libtorch';

interface Entry {
  handle: Handle;
  refCount: number;
}

/** A dtype the addon stores, or an error that says which tfjs dtype is not supported. */
export function torchDType(dtype: DataType): TorchDType {
  if (dtype === 'float32' || dtype === 'int32' || dtype === 'bool') return dtype;
  throw new Error(`the libtorch backend does not support ${dtype} tensors`);
}

function typed(values: BackendValues, dtype: TorchDType): Float32Array | Int32Array | Uint8Array {
  switch (dtype) {
    case 'float32':
      return values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    case 'int32':
      return values instanceof Int32Array ? values : Int32Array.from(values as ArrayLike<number>);
    case 'bool':
      return values instanceof Uint8Array ? values : Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
    default: {
      const never: never = dtype;
      throw new Error(`Internal error: dtype ${String(never)}`);
    }
  }
}

/** The libtorch tfjs backend. Kernels (ml/libtorch/kernels/) reach the native tensors through `handle` and `output`. */
export class TorchBackend extends KernelBackend {
  readonly native: TorchBinding;
  readonly #data: DataStorage<Entry>;

  constructor(native: TorchBinding) {
    super();
    this.native = native;
    this.#data = new DataStorage<Entry>(this, engine());
  }

  /** The native tensor of a kernel input. */
  handle(t: TensorInfo): Handle {
    return this.#data.get(t.dataId).handle;
  }

  /** Registers a kernel's native result as a new tensor. */
  output(h: Handle): TensorInfo {
    const [code, ...shape] = this.native.info(h);
    const dtype = DTYPES[code ?? -1];
    if (dtype === undefined) throw new Error(`Internal error: the addon returned dtype code ${code}`);
    const dataId = {};
    this.#data.set(dataId, {handle: h, refCount: 1});
    return {dataId, shape, dtype};
  }

  override write(values: BackendValues, shape: number[], dtype: DataType): DataId {
    const d = torchDType(dtype);
    const dataId = {};
    this.#data.set(dataId, {handle: this.native.fromArray(typed(values, d), shape, DTYPE_CODES[d]), refCount: 1});
    return dataId;
  }

  override move(dataId: DataId, values: BackendValues, shape: number[], dtype: DataType, refCount: number): void {
    const d = torchDType(dtype);
    this.#data.set(dataId, {handle: this.native.fromArray(typed(values, d), shape, DTYPE_CODES[d]), refCount});
  }

  override readSync(dataId: DataId): BackendValues {
    return this.native.toArray(this.#data.get(dataId).handle);
  }

  override read(dataId: DataId): Promise<BackendValues> {
    return Promise.resolve(this.readSync(dataId));
  }

  override disposeData(dataId: DataId, force = false): boolean {
    if (!this.#data.has(dataId)) return true;
    const entry = this.#data.get(dataId);
    entry.refCount--;
    if (!force && entry.refCount > 0) return false;
    this.native.release(entry.handle);
    this.#data.delete(dataId);
    return true;
  }

  override incRef(dataId: DataId): void {
    this.#data.get(dataId).refCount++;
  }

  override refCount(dataId: DataId): number {
    return this.#data.has(dataId) ? this.#data.get(dataId).refCount : 0;
  }

  override numDataIds(): number {
    return this.#data.numDataIds();
  }

  override memory(): {unreliable: boolean; reasons?: string[]} & Record<string, unknown> {
    const stats = this.native.memoryStats();
    return {unreliable: false, numBytesInLibtorch: stats.inUse, numBytesCachedInLibtorch: stats.cached};
  }

  override timerAvailable(): boolean {
    return true;
  }

  override async time(f: () => void): Promise<BackendTimingInfo> {
    const start = process.hrtime.bigint();
    f();
    return {kernelMs: Number(process.hrtime.bigint() - start) / 1e6};
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override epsilon(): number {
    return 1e-7;
  }

  override dispose(): void {
    // Tensors are released one by one by the engine; the allocator's cache goes back to the OS here.
    this.native.emptyCache();
  }
}
