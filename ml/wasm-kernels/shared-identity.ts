/**
 * `Identity` and same-dtype `Cast` on the wasm backend without copying: the output shares the input's data (with a
 * reference count), as the cpu backend and the wasm backend's own Reshape already do. Tensor data is immutable, so
 * sharing is safe.
 *
 * Why it matters: the engine clones every tensor it saves for the backward pass through Identity, so on wasm every
 * saved activation was copied (4% of a ConvNet training step) and held twice in the heap, which is capped at 4 GB and
 * is what limits trajectory-matching unroll lengths. relu's gradient casts float32 to float32, another full copy.
 */
import type {DataType, KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';

/** The backend's reference counting (public on BackendWasm). */
interface RefCounted {
  incRef(dataId: object): void;
}

function share(backend: object, x: TensorInfo): TensorInfo {
  (backend as RefCounted).incRef(x.dataId);
  return {dataId: x.dataId, shape: x.shape, dtype: x.dtype};
}

/** Builds the Identity kernel around the original (kept for string tensors, which do not live on the heap). */
export function makeSharedIdentity(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    if (x === undefined || x.dtype === 'string') return original(args);
    return share(args.backend, x);
  };
}

/** Builds the Cast kernel around the original: a cast to the same dtype shares the data, others convert. */
export function makeSharedCast(original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    const dtype = (args.attrs as NamedAttrMap)['dtype'] as DataType;
    if (x === undefined || x.dtype !== dtype || dtype === 'string') return original(args);
    return share(args.backend, x);
  };
}

/** Registration records wrapping the backend's original kernels. */
export function sharedIdentityConfigs(originalIdentity: KernelFunc, originalCast: KernelFunc): KernelConfig[] {
  return [
    {kernelName: 'Identity', backendName: 'wasm', kernelFunc: makeSharedIdentity(originalIdentity)},
    {kernelName: 'Cast', backendName: 'wasm', kernelFunc: makeSharedCast(originalCast)},
  ];
}
