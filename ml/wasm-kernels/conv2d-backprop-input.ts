/**
 * A fast `Conv2DBackpropInput` for the wasm backend (NHWC, dilation 1): the backend's own kernel is a slow path (2.5 s
 * of a 3.9 s ConvNet training step at stride 1; 10-12x the forward convolution at stride 2).
 *
 * Stride 1: dx = conv(dy padded by K-1-pad, W reversed in both spatial axes with in/out channels swapped), a forward
 * convolution on XNNPACK. A pad larger than K-1 (e.g. padding 3 on a 3x3 kernel for 28x28 inputs) becomes a crop.
 * Larger strides: sub-pixel decomposition (conv2d-backprop-input-strided.ts). NCHW and non-float inputs go to the
 * original kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import {callKernel, release} from './call-kernel.js';
import {stridedBackpropInput} from './conv2d-backprop-input-strided.js';

const BACKEND = 'wasm';

/** Builds the kernel function around the backend's original kernel (used for the cases not handled here). */
export function makeConv2DBackpropInputWasm(original: KernelFunc): KernelFunc {
  return (args) => {
    const {inputs, backend, attrs} = args;
    const dy = inputs['dy'];
    const filter = inputs['filter'];
    if (dy === undefined || filter === undefined) throw new Error('Internal error: Conv2DBackpropInput needs dy and filter');
    const {strides, pad, dataFormat, dimRoundingMode, inputShape} = attrs as NamedAttrMap;
    const format = tf.backend_util.convertConv2DDataFormat(dataFormat as 'NHWC' | 'NCHW');
    const info = tf.backend_util.computeConv2DInfo(
      inputShape as [number, number, number, number],
      filter.shape as [number, number, number, number],
      strides as [number, number],
      1,
      pad as 'same',
      dimRoundingMode as 'floor' | undefined,
      false,
      format,
    );
    if (format !== 'channelsLast' || dy.dtype !== 'float32') return original(args);
    const kh = info.filterHeight;
    const kw = info.filterWidth;
    const sh = info.strideHeight;
    const sw = info.strideWidth;
    if (sh > 1 || sw > 1) return stridedBackpropInput(backend, dy, filter, info);
    const [b, oh, ow, o] = dy.shape as [number, number, number, number];
    let src: TensorInfo = dy;
    // Padding of dy for the "full" correlation that yields exactly H x W; negative means crop.
    const {top, left} = info.padInfo;
    const dh = oh;
    const dw = ow;
    const pt = kh - 1 - top;
    const pl = kw - 1 - left;
    const pb = info.inHeight + kh - 1 - dh - pt;
    const pr = info.inWidth + kw - 1 - dw - pl;
    if (pt < 0 || pb < 0 || pl < 0 || pr < 0) {
      const ct = Math.max(0, -pt);
      const cl = Math.max(0, -pl);
      const cropped = callKernel(
        BACKEND,
        backend,
        'Slice',
        {x: src},
        {begin: [0, ct, cl, 0], size: [b, dh - ct - Math.max(0, -pb), dw - cl - Math.max(0, -pr), o]},
      );
      src = cropped;
    }
    const reversed = callKernel(BACKEND, backend, 'Reverse', {x: filter}, {dims: [0, 1]});
    const swapped = callKernel(BACKEND, backend, 'Transpose', {x: reversed}, {perm: [0, 1, 3, 2]});
    release(backend, reversed);
    const out = callKernel(
      BACKEND,
      backend,
      'Conv2D',
      {x: src, filter: swapped},
      {
        strides: [1, 1],
        pad: [
          [0, 0],
          [Math.max(0, pt), Math.max(0, pb)],
          [Math.max(0, pl), Math.max(0, pr)],
          [0, 0],
        ],
        dataFormat: 'NHWC',
        dilations: [1, 1],
        ...(dimRoundingMode === undefined ? {} : {dimRoundingMode}),
      },
    );
    release(backend, swapped);
    if (src !== dy) release(backend, src);
    return out;
  };
}

/** Registration record for the wasm backend, wrapping the backend's original kernel. */
export function conv2DBackpropInputWasmConfig(original: KernelFunc): KernelConfig {
  return {kernelName: 'Conv2DBackpropInput', backendName: BACKEND, kernelFunc: makeConv2DBackpropInputWasm(original)};
}
