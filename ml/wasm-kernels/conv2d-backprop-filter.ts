/**
 * A fast `Conv2DBackpropFilter` for the wasm backend, which has none (tf.grad through tf.conv2d fails there without it).
 *
 * dW[kh, kw, c, o] = sum_{b, i, j} xpad[b, i*s + kh, j*s + kw, c] * dy[b, i, j, o] is itself a forward convolution
 * once the operands are transposed: x as a batch of C images [C, Hp, Wp, B] with B channels, convolved (valid, stride 1,
 * dilation s) with dy as a [OH, OW, B, O] filter, gives [C, KH', KW', O]; crop to KH x KW and transpose to
 * [KH, KW, C, O]. That runs on XNNPACK's forward convolution, the fastest path in the backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import {callKernel, release} from './call-kernel.js';
import type {HeapBackend} from './heap-backend.js';

const BACKEND = 'wasm';

/**
 * Patch columns (KH * KW * C) up to which the im2col path is used. For few input channels (the first layer: 3x3x3 = 27)
 * the transposed-convolution path degenerates (C images of 3x3 outputs against a huge B-channel filter that XNNPACK
 * must pack: 2.5x the forward conv); an explicit patch matrix is then small (N x 27) and one GEMM does the rest.
 */
const IM2COL_MAX_ROWS = 64;

/**
 * x as a patch matrix [N = B*OH*OW, KH*KW*C], each patch contiguous (zeros where it leaves the input), built in one JS
 * pass. Column (u * KW + v) * C + k matches the HWIO flattening of the filter.
 */
function im2col(backend: object, x: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const {batchSize: b, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow} = info;
  const {filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw} = info;
  const {top, left} = info.padInfo;
  const be = backend as HeapBackend;
  const out = be.makeOutput([1, b * oh * ow, kh * kw * c], 'float32');
  const src = be.typedArrayFromHeap(x);
  const dst = be.typedArrayFromHeap(out);
  let q = 0;
  for (let m = 0; m < b; m++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        for (let u = 0; u < kh; u++) {
          const y = i * sh + u - top;
          for (let v = 0; v < kw; v++) {
            const xx = j * sw + v - left;
            if (y < 0 || y >= h || xx < 0 || xx >= w) {
              dst.fill(0, q, q + c);
              q += c;
            } else {
              const s0 = ((m * h + y) * w + xx) * c;
              for (let k = 0; k < c; k++) dst[q++] = src[s0 + k] as number;
            }
          }
        }
      }
    }
  }
  return out;
}

/**
 * dW^T = dy^T [O, N] x patches [N, KH*KW*C], transposed to HWIO. XNNPACK's GEMM packs (copies into its own tiled
 * layout) its right operand on every call with a new tensor, and that packing is slow: with dy on the right (the
 * transpose-free patches^T x dy) packing its N x O floats took 400-550 ms of a 500-650 ms kernel inside a CIFAR
 * batch-256 step. Putting the narrow patch matrix on the right and paying for one transpose of dy measured
 * 280-300 ms for transpose + GEMM in the same step. (Benchmarks that call the kernel twice on the same dy hide this:
 * the backend caches the packed operand per tensor.)
 */
function viaIm2col(backend: object, x: TensorInfo, dy: TensorInfo, info: tf.backend_util.Conv2DInfo): TensorInfo {
  const n = info.batchSize * info.outHeight * info.outWidth;
  const o = info.outChannels;
  const patches = im2col(backend, x, info);
  const dy3 = callKernel(BACKEND, backend, 'Reshape', {x: dy}, {shape: [1, n, o]});
  const dyT = callKernel(BACKEND, backend, 'Transpose', {x: dy3}, {perm: [0, 2, 1]});
  release(backend, dy3);
  const product = callKernel(BACKEND, backend, 'BatchMatMul', {a: dyT, b: patches}, {transposeA: false, transposeB: false});
  release(backend, dyT, patches);
  const hwio = callKernel(BACKEND, backend, 'Transpose', {x: product}, {perm: [0, 2, 1]});
  release(backend, product);
  const out = callKernel(BACKEND, backend, 'Reshape', {x: hwio}, {
    shape: [info.filterHeight, info.filterWidth, info.inChannels, o],
  });
  release(backend, hwio);
  return out;
}

/** Images per chunk of the transposed-convolution path (see conv2DBackpropFilterWasm). */
const BATCH_CHUNK = 64;

/** Images [b0, b0 + size) of an NHWC tensor (a contiguous copy), or the tensor itself when that is all of it. */
function chunk(backend: object, t: TensorInfo, b0: number, size: number, total: number): TensorInfo {
  if (size === total) return t;
  const [, h, w, c] = t.shape as [number, number, number, number];
  return callKernel(BACKEND, backend, 'Slice', {x: t}, {begin: [b0, 0, 0, 0], size: [size, h, w, c]});
}

/**
 * The filter gradient of one batch chunk as a forward convolution, uncropped: [C, KH', KW', O]. Frees the chunk
 * copies (never the kernel's own inputs `x0`/`dy0`).
 */
function transposedConv(
  backend: object,
  x: TensorInfo,
  dy: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
  x0: TensorInfo,
  dy0: TensorInfo,
): TensorInfo {
  const {top, bottom, left, right} = info.padInfo;
  const xT = callKernel(BACKEND, backend, 'Transpose', {x}, {perm: [3, 1, 2, 0]});
  const dyT = callKernel(BACKEND, backend, 'Transpose', {x: dy}, {perm: [1, 2, 0, 3]});
  if (x !== x0) release(backend, x);
  if (dy !== dy0) release(backend, dy);
  const conv = callKernel(
    BACKEND,
    backend,
    'Conv2D',
    {x: xT, filter: dyT},
    {
      strides: [1, 1],
      pad: [
        [0, 0],
        [top, bottom],
        [left, right],
        [0, 0],
      ],
      dataFormat: 'NHWC',
      dilations: [info.strideHeight, info.strideWidth],
    },
  );
  release(backend, xT, dyT);
  return conv;
}

/** The kernel function (exported for tests). */
export const conv2DBackpropFilterWasm: KernelFunc = ({inputs, backend, attrs}) => {
  const x = inputs['x'];
  const dy = inputs['dy'];
  if (x === undefined || dy === undefined) throw new Error('Internal error: Conv2DBackpropFilter needs x and dy');
  const {strides, pad, dataFormat, dimRoundingMode, filterShape} = attrs as NamedAttrMap;
  const format = tf.backend_util.convertConv2DDataFormat(dataFormat as 'NHWC' | 'NCHW');
  if (format !== 'channelsLast') throw new Error(`wasm Conv2DBackpropFilter supports NHWC only, got ${String(dataFormat)}`);
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    filterShape as [number, number, number, number],
    strides as [number, number],
    1,
    pad as 'same',
    dimRoundingMode as 'floor' | undefined,
  );
  if (info.filterHeight * info.filterWidth * info.inChannels <= IM2COL_MAX_ROWS && x.dtype === 'float32') {
    return viaIm2col(backend, x, dy, info);
  }
  // Large batches are done in chunks of BATCH_CHUNK images and summed. This bounds the two transposed copies (and
  // XNNPACK's packed copy of dy) to one chunk, which matters under the 4 GB heap. Speed: on pre-split chunks of 64 the
  // convolution measured up to ~25% faster per image than at batch 256, but with the chunk copies included the
  // in-kernel figure was within measurement noise of the unchunked one.
  const b = info.batchSize;
  let conv: TensorInfo | undefined;
  for (let b0 = 0; b0 < b; b0 += BATCH_CHUNK) {
    const size = Math.min(BATCH_CHUNK, b - b0);
    const part = transposedConv(backend, chunk(backend, x, b0, size, b), chunk(backend, dy, b0, size, b), info, x, dy);
    if (conv === undefined) {
      conv = part;
    } else {
      const sum = callKernel(BACKEND, backend, 'Add', {a: conv, b: part}, {});
      release(backend, conv, part);
      conv = sum;
    }
  }
  if (conv === undefined) throw new Error('Internal error: Conv2DBackpropFilter on an empty batch');
  let cropped: TensorInfo = conv;
  const [, kh, kw] = conv.shape;
  if (kh !== info.filterHeight || kw !== info.filterWidth) {
    cropped = callKernel(
      BACKEND,
      backend,
      'Slice',
      {x: conv},
      {begin: [0, 0, 0, 0], size: [info.inChannels, info.filterHeight, info.filterWidth, info.outChannels]},
    );
    release(backend, conv);
  }
  const out = callKernel(BACKEND, backend, 'Transpose', {x: cropped}, {perm: [1, 2, 0, 3]});
  release(backend, cropped);
  return out;
};

/** Registration record for the wasm backend. */
export const conv2DBackpropFilterWasmConfig: KernelConfig = {
  kernelName: 'Conv2DBackpropFilter',
  backendName: BACKEND,
  kernelFunc: conv2DBackpropFilterWasm,
};
