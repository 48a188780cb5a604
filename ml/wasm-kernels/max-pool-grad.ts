/**
 * A correct `MaxPoolGrad` for the wasm backend, replacing the built-in one.
 *
 * The built-in kernel (tfjs-backend-wasm 4.22) starts each window's running maximum at the smallest positive float
 * instead of -Infinity and keeps the last of equal values. A window whose values are all at most 0 (after batch norm,
 * or any pooling of signed values) therefore routes its gradient to the tensor's first element, which lies outside
 * every window but the very first, so the gradient is silently lost; and ties go to the last position where the cpu
 * backend takes the first. Measured: up to 1.3 absolute difference from the cpu kernel on random normal inputs, and a first-order
 * gradient check of conv -> tanh -> maxPool failing on wasm.
 *
 * This kernel follows the cpu backend exactly: -Infinity start, the first maximum in row-major window order, padded
 * positions skipped. It is a JS loop (channels innermost, NHWC-contiguous), as the cpu backend's is; the op is
 * memory-bound and no other wasm kernel computes the argmax positions correctly.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc, NamedAttrMap} from '@tensorflow/tfjs-core';
import type {HeapBackend} from './heap-backend.js';

/** The kernel function (exported for tests). */
export const maxPoolGradWasm: KernelFunc = ({inputs, backend, attrs}) => {
  const dy = inputs['dy'];
  const input = inputs['input'];
  if (dy === undefined || input === undefined) throw new Error('Internal error: MaxPoolGrad needs dy and input');
  if (input.shape.length !== 4) throw new Error(`MaxPoolGrad on wasm: input must be rank 4, got shape [${input.shape.join(', ')}]`);
  if (input.dtype !== 'float32' || dy.dtype !== 'float32') {
    throw new Error(`MaxPoolGrad on wasm: float32 tensors expected, got input ${input.dtype} and dy ${dy.dtype}`);
  }
  const {filterSize, strides, pad, dimRoundingMode} = attrs as NamedAttrMap;
  const info = tf.backend_util.computePool2DInfo(
    input.shape as [number, number, number, number],
    filterSize as number | [number, number],
    strides as number | [number, number],
    1,
    pad as 'valid' | 'same' | number,
    dimRoundingMode as 'floor' | 'round' | 'ceil' | undefined,
  );
  const {batchSize: nb, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow} = info;
  const {strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw} = info;
  const {top, left} = info.padInfo;
  const be = backend as HeapBackend;
  const out = be.makeOutput([...input.shape], 'float32');
  // Views only after the last allocation (an allocation can grow the heap and detach earlier views).
  // Float32Array views (float32 is checked above): one element type keeps the loops monomorphic.
  const xs = be.typedArrayFromHeap(input) as Float32Array;
  const dys = be.typedArrayFromHeap(dy) as Float32Array;
  const dx = be.typedArrayFromHeap(out) as Float32Array;
  dx.fill(0);
  const best = new Float32Array(c);
  const at = new Int32Array(c);
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        best.fill(Number.NEGATIVE_INFINITY);
        at.fill(-1);
        for (let u = 0; u < kh; u++) {
          const r = i * sh + u - top;
          if (r < 0 || r >= h) continue;
          for (let v = 0; v < kw; v++) {
            const q = j * sw + v - left;
            if (q < 0 || q >= w) continue;
            const base = ((b * h + r) * w + q) * c;
            for (let k = 0; k < c; k++) {
              const value = xs[base + k] as number;
              // Strictly greater: the first maximum wins, as on the cpu backend.
              if (value > (best[k] as number)) {
                best[k] = value;
                at[k] = base + k;
              }
            }
          }
        }
        const dyBase = ((b * oh + i) * ow + j) * c;
        for (let k = 0; k < c; k++) {
          const p = at[k] as number;
          if (p >= 0) dx[p] = (dx[p] as number) + (dys[dyBase + k] as number);
        }
      }
    }
  }
  return out;
};

/** Registration record for the wasm backend. */
export const maxPoolGradWasmConfig: KernelConfig = {
  kernelName: 'MaxPoolGrad',
  backendName: 'wasm',
  kernelFunc: maxPoolGradWasm,
};
