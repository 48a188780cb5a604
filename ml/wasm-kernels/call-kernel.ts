/**
 * Calling another kernel of the same backend from inside a kernel, with the intermediates' lifetimes made explicit.
 *
 * Kernels run below the engine, so their outputs are raw TensorInfos that no tidy() will ever free: every
 * intermediate must be released with `backend.disposeData`, or the wasm heap (capped at 4 GB) fills up.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelBackend, NamedAttrMap, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';

/** Runs kernel `name` of `backendName` on `inputs`; throws when that kernel is not registered. */
export function callKernel(
  backendName: string,
  backend: object,
  name: string,
  inputs: NamedTensorInfoMap,
  attrs: NamedAttrMap,
): TensorInfo {
  const kernel = tf.getKernel(name, backendName);
  if (kernel === undefined) throw new Error(`Internal error: kernel ${name} is not registered for ${backendName}`);
  const out = kernel.kernelFunc({inputs, attrs, backend});
  if (Array.isArray(out)) {
    const first = out[0];
    if (out.length !== 1 || first === undefined) throw new Error(`Internal error: kernel ${name} gave ${out.length} outputs`);
    return first;
  }
  return out;
}

/** Frees intermediates made by `callKernel`. */
export function release(backend: object, ...infos: TensorInfo[]): void {
  // Kernel functions receive their backend untyped ({}); it is always a KernelBackend.
  for (const info of infos) (backend as KernelBackend).disposeData(info.dataId);
}
