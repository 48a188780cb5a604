/**
 * `UnsortedSegmentSum` for the wasm backend, which lacks it. It is the gradient of `tf.gather`, so without it DSA
 * (crop, flip, scale and rotate are gathers) cannot be differentiated on wasm.
 *
 * A plain loop over the data: the op is memory-bound, and a one-hot matMul would cost N x numSegments.
 */
import type {KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';

/** The wasm backend methods used here (the backend object reaches kernels untyped). */
interface HeapBackend {
  readSync(dataId: object): ArrayLike<number>;
  makeOutput(shape: number[], dtype: TensorInfo['dtype'], memoryOffset?: number, values?: Float32Array | Int32Array): TensorInfo;
}

/** The kernel function (exported for tests). */
export const unsortedSegmentSumWasm: KernelFunc = ({inputs, backend, attrs}) => {
  const x = inputs['x'];
  const segmentIds = inputs['segmentIds'];
  if (x === undefined || segmentIds === undefined) throw new Error('Internal error: UnsortedSegmentSum needs x and segmentIds');
  const numSegments = (attrs as NamedAttrMap)['numSegments'] as number;
  const be = backend as HeapBackend;
  const xs = be.readSync(x.dataId);
  const ids = be.readSync(segmentIds.dataId);
  // segmentIds covers a prefix of x's dimensions; each id selects a contiguous block of `inner` values.
  const inner = ids.length === 0 ? 0 : xs.length / ids.length;
  const outShape = [numSegments, ...x.shape.slice(segmentIds.shape.length)];
  const out = x.dtype === 'int32' ? new Int32Array(numSegments * inner) : new Float32Array(numSegments * inner);
  for (let i = 0; i < ids.length; i++) {
    const s = ids[i] ?? -1;
    if (s < 0 || s >= numSegments) continue; // TF semantics: out-of-range ids are dropped.
    const src = i * inner;
    const dst = s * inner;
    for (let j = 0; j < inner; j++) out[dst + j] = (out[dst + j] ?? 0) + (xs[src + j] ?? 0);
  }
  return be.makeOutput(outShape, x.dtype, undefined, out);
};

/** Registration record for the wasm backend. */
export const unsortedSegmentSumWasmConfig: KernelConfig = {
  kernelName: 'UnsortedSegmentSum',
  backendName: 'wasm',
  kernelFunc: unsortedSegmentSumWasm,
};
