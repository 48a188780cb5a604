/**
 * A fast `Conv2DBackpropInput` for the wasm backend at stride 1 (dilation 1, NHWC), the case of every 3x3 'same'
 * convolution in the ConvNet; the backend's own kernel is a slow path (2.5 s of a 3.9 s training step). Other
 * strides go to the original kernel.
 *
 * At stride 1, dx = conv(dy padded by K-1-pad, W reversed in both spatial axes with in/out channels swapped). A pad
 * larger than K-1 (e.g. padding 3 on a 3x3 kernel for 28x28 inputs) becomes a crop of dy instead.
 */
import * as tf from '@tensorflow/tfjs';
import type {KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs';
import {callKernel, release} from './call-kernel.js';

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
    if (format !== 'channelsLast' || info.strideHeight !== 1 || info.strideWidth !== 1) return original(args);
    const kh = info.filterHeight;
    const kw = info.filterWidth;
    const {top, bottom, left, right} = info.padInfo;
    // Padding of dy for the "full" correlation; negative means crop.
    const pt = kh - 1 - top;
    const pb = kh - 1 - bottom;
    const pl = kw - 1 - left;
    const pr = kw - 1 - right;
    let src: TensorInfo = dy;
    if (pt < 0 || pb < 0 || pl < 0 || pr < 0) {
      const [b, oh, ow, o] = dy.shape as [number, number, number, number];
      const ct = Math.max(0, -pt);
      const cl = Math.max(0, -pl);
      src = callKernel(
        BACKEND,
        backend,
        'Slice',
        {x: dy},
        {begin: [0, ct, cl, 0], size: [b, oh - ct - Math.max(0, -pb), ow - cl - Math.max(0, -pr), o]},
      );
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
