/**
 * Faster `Sum` and `Mean` on the wasm backend when the reduced axes are a contiguous block that is not innermost, e.g.
 * NHWC reductions over [0, 1, 2] (bias, norm-affine and broadcast gradients) or [1, 2] (instance-norm statistics).
 * The built-in kernels transpose the whole tensor to make the axes innermost first, which dominated their cost (Sum
 * was 14% of a ConvNet training step). Viewing x as [outer, reduce, inner], the reduction is a batched product of its
 * transpose with a column of ones (measured ~4x faster than the transpose path for [0, 1, 2] on fresh tensors, and
 * ~2.5x faster than a plain JS loop). Other cases use the original kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc, NamedAttrMap} from '@tensorflow/tfjs-core';
import {callKernel, release} from './call-kernel.js';
import type {HeapBackend} from './heap-backend.js';

const BACKEND = 'wasm';

/** [outer, reduce, inner] when `axes` is one contiguous, non-innermost block of a float32 tensor's axes. */
export function middleBlock(shape: readonly number[], axes: readonly number[]): [number, number, number] | undefined {
  if (axes.length === 0) return undefined;
  const sorted = [...axes].sort((a, b) => a - b);
  const first = sorted[0] ?? 0;
  const last = sorted[sorted.length - 1] ?? 0;
  if (last - first + 1 !== sorted.length || last === shape.length - 1) return undefined;
  const prod = (from: number, to: number): number => shape.slice(from, to).reduce((a, b) => a * b, 1);
  return [prod(0, first), prod(first, last + 1), prod(last + 1, shape.length)];
}

function makeReduce(kind: 'sum' | 'mean', original: KernelFunc): KernelFunc {
  return (args) => {
    const x = args.inputs['x'];
    if (x === undefined) throw new Error(`Internal error: ${kind} needs x`);
    const {axis, keepDims} = args.attrs as NamedAttrMap;
    const axes = tf.util.parseAxisParam(axis as number | number[], x.shape);
    const block = x.dtype === 'float32' ? middleBlock(x.shape, axes) : undefined;
    if (block === undefined) return original(args);
    const [outer, reduce, inner] = block;
    const outShape =
      keepDims === true ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d)) : x.shape.filter((_, i) => !axes.includes(i));
    const backend = args.backend;
    const be = backend as HeapBackend;
    // x viewed as [outer, reduce, inner], transposed (as a GEMM flag, not a copy) and multiplied by a column of ones
    // (or of 1/reduce, which makes it a mean for free). x must be the left operand: the backend packs and caches the
    // right operand as GEMM weights, which costs a full copy for a fresh activation tensor.
    const weights = be.makeOutput([outer, reduce, 1], 'float32');
    be.typedArrayFromHeap(weights).fill(kind === 'mean' ? 1 / reduce : 1);
    const view = callKernel(BACKEND, backend, 'Reshape', {x}, {shape: [outer, reduce, inner]});
    const product = callKernel(BACKEND, backend, 'BatchMatMul', {a: view, b: weights}, {transposeA: true, transposeB: false});
    release(backend, weights, view);
    const out = callKernel(BACKEND, backend, 'Reshape', {x: product}, {shape: outShape});
    release(backend, product);
    return out;
  };
}

/** Registration records wrapping the backend's original Sum and Mean kernels. */
export function reduceMiddleConfigs(originalSum: KernelFunc, originalMean: KernelFunc): KernelConfig[] {
  return [
    {kernelName: 'Sum', backendName: BACKEND, kernelFunc: makeReduce('sum', originalSum)},
    {kernelName: 'Mean', backendName: BACKEND, kernelFunc: makeReduce('mean', originalMean)},
  ];
}
