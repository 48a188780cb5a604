/**
 * The few methods of the wasm backend that JS-loop kernels use. Kernels receive their backend untyped; these are
 * public methods of tfjs-backend-wasm's BackendWasm.
 */
import type {DataType, TensorInfo} from '@tensorflow/tfjs-core';

/** Views of tensor memory on the wasm heap. */
export interface HeapBackend {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: DataType, memoryOffset?: number, values?: Float32Array | Int32Array): TensorInfo;
  /**
   * A view (no copy) of a tensor's memory. Allocating (makeOutput) can grow the heap and detach earlier views, so
   * take views only after the last allocation.
   */
  typedArrayFromHeap(info: TensorInfo): Float32Array | Int32Array | Uint8Array;
}
