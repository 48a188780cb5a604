/**
 * `DepthwiseConv2dNativeBackpropFilter` and `DepthwiseConv2dNativeBackpropInput` for the wasm backend, which has
 * neither: without them `tf.grad` through `tf.depthwiseConv2d` fails on wasm ("Kernel ... not registered").
 *
 * With a filter [KH, KW, C, M] (channel multiplier M) and dy [B, OH, OW, C*M]:
 *   dW[u, v, c, m]   = sum_{b, i, j} x[b, i*sh + u - top, j*sw + v - left, c] * dy[b, i, j, c*M + m]
 *   dx[b, r, q, c]  += sum_m dy[b, i, j, c*M + m] * W[u, v, c, m]   for every (i, j, u, v) that lands on (r, q)
 * Both are JS loops with channels innermost and float64 accumulation (as the cpu backend's loops accumulate in JS
 * numbers). No built-in model uses depthwise convolutions, so these kernels are here for correctness, not speed: a
 * forward-convolution formulation like Conv2DBackpropFilter's would need a grouped convolution that the wasm backend
 * does not expose. Dilations other than 1 are rejected, as tfjs's own depthwiseConv2d gradient rejects them.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import type {HeapBackend} from './heap-backend.js';

type Shape4 = [number, number, number, number];

function convInfo(kernel: string, xShape: readonly number[], filterShape: readonly number[], attrs: NamedAttrMap): tf.backend_util.Conv2DInfo {
  const dilations = (attrs['dilations'] ?? 1) as number | [number, number];
  const ones = Array.isArray(dilations) ? dilations.every((d) => d === 1) : dilations === 1;
  if (!ones) throw new Error(`${kernel} on wasm supports dilations of 1 only, got ${JSON.stringify(dilations)}`);
  if (xShape.length !== 4 || filterShape.length !== 4) {
    throw new Error(`${kernel} on wasm: input [${xShape.join(', ')}] and filter [${filterShape.join(', ')}] must be rank 4`);
  }
  return tf.backend_util.computeConv2DInfo(
    [...xShape] as Shape4,
    [...filterShape] as Shape4,
    attrs['strides'] as number | [number, number],
    1,
    attrs['pad'] as 'valid' | 'same' | number,
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    true,
  );
}

/** Calls `visit(dyBase, xBase, wBase)` for every (b, i, j, u, v) whose tap lies inside the input. */
function forEachTap(info: tf.backend_util.Conv2DInfo, visit: (dyBase: number, xBase: number, wBase: number) => void): void {
  const {batchSize: nb, inHeight: h, inWidth: w, inChannels: c, outHeight: oh, outWidth: ow, outChannels: co} = info;
  const {strideHeight: sh, strideWidth: sw, filterHeight: kh, filterWidth: kw} = info;
  const {top, left} = info.padInfo;
  for (let b = 0; b < nb; b++) {
    for (let i = 0; i < oh; i++) {
      for (let j = 0; j < ow; j++) {
        const dyBase = ((b * oh + i) * ow + j) * co;
        for (let u = 0; u < kh; u++) {
          const r = i * sh + u - top;
          if (r < 0 || r >= h) continue;
          for (let v = 0; v < kw; v++) {
            const q = j * sw + v - left;
            if (q < 0 || q >= w) continue;
            visit(dyBase, ((b * h + r) * w + q) * c, (u * kw + v) * co);
          }
        }
      }
    }
  }
}

function inputsOf(kernel: string, inputs: Record<string, TensorInfo | undefined>, a: string, b: string): [TensorInfo, TensorInfo] {
  const first = inputs[a];
  const second = inputs[b];
  if (first === undefined || second === undefined) throw new Error(`Internal error: ${kernel} needs ${a} and ${b}`);
  if (first.dtype !== 'float32' || second.dtype !== 'float32') {
    throw new Error(`${kernel} on wasm: float32 tensors expected, got ${a} ${first.dtype} and ${b} ${second.dtype}`);
  }
  return [first, second];
}

/** A float32 view of a tensor's heap memory (one element type keeps the loops monomorphic). */
function view(backend: HeapBackend, info: TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(info) as Float32Array;
}

/** dW from x and dy (exported for tests). */
export const depthwiseBackpropFilterWasm: KernelFunc = ({inputs, backend, attrs}) => {
  const name = 'DepthwiseConv2dNativeBackpropFilter';
  const [x, dy] = inputsOf(name, inputs, 'x', 'dy');
  const a = attrs as NamedAttrMap;
  const info = convInfo(name, x.shape, a['filterShape'] as number[], a);
  const mult = info.outChannels / info.inChannels;
  const co = info.outChannels;
  const acc = new Float64Array(info.filterHeight * info.filterWidth * co);
  const be = backend as HeapBackend;
  const out = be.makeOutput([info.filterHeight, info.filterWidth, info.inChannels, mult], 'float32');
  const xs = view(be, x);
  const dys = view(be, dy);
  forEachTap(info, (dyBase, xBase, wBase) => {
    for (let k = 0; k < co; k++) {
      acc[wBase + k] = (acc[wBase + k] as number) + (xs[xBase + Math.floor(k / mult)] as number) * (dys[dyBase + k] as number);
    }
  });
  view(be, out).set(acc);
  return out;
};

/** dx from dy and the filter (exported for tests). */
export const depthwiseBackpropInputWasm: KernelFunc = ({inputs, backend, attrs}) => {
  const name = 'DepthwiseConv2dNativeBackpropInput';
  const [dy, filter] = inputsOf(name, inputs, 'dy', 'filter');
  const a = attrs as NamedAttrMap;
  const inputShape = a['inputShape'] as number[];
  const info = convInfo(name, inputShape, filter.shape, a);
  const mult = info.outChannels / info.inChannels;
  const c = info.inChannels;
  const acc = new Float64Array(inputShape.reduce((p, d) => p * d, 1));
  const be = backend as HeapBackend;
  const out = be.makeOutput([...inputShape], 'float32');
  const dys = view(be, dy);
  const ws = view(be, filter);
  forEachTap(info, (dyBase, xBase, wBase) => {
    for (let k = 0; k < c; k++) {
      let s = 0;
      for (let m = 0; m < mult; m++) s += (dys[dyBase + k * mult + m] as number) * (ws[wBase + k * mult + m] as number);
      acc[xBase + k] = (acc[xBase + k] as number) + s;
    }
  });
  view(be, out).set(acc);
  return out;
};

/** Registration records for the wasm backend. */
export const depthwiseBackpropWasmConfigs: readonly KernelConfig[] = [
  {kernelName: 'DepthwiseConv2dNativeBackpropFilter', backendName: 'wasm', kernelFunc: depthwiseBackpropFilterWasm},
  {kernelName: 'DepthwiseConv2dNativeBackpropInput', backendName: 'wasm', kernelFunc: depthwiseBackpropInputWasm},
];
