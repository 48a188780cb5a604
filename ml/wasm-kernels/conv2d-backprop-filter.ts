/**
 * A fast `Conv2DBackpropFilter` for the wasm backend, which has none (tf.grad through tf.conv2d fails there without it).
 *
 * dW[kh, kw, c, o] = sum_{b, i, j} xpad[b, i*s + kh, j*s + kw, c] * dy[b, i, j, o] is itself a forward convolution
 * once the operands are transposed: x as a batch of C images [C, Hp, Wp, B] with B channels, convolved (valid, stride 1,
 * dilation s) with dy as a [OH, OW, B, O] filter, gives [C, KH', KW', O]; crop to KH x KW and transpose to
 * [KH, KW, C, O]. That runs on XNNPACK's forward convolution, the fastest path in the backend.
 */
import * as tf from '@tensorflow/tfjs';
import type {KernelConfig, KernelFunc, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs';
import {callKernel, release} from './call-kernel.js';

const BACKEND = 'wasm';

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
  const {top, bottom, left, right} = info.padInfo;
  const xT = callKernel(BACKEND, backend, 'Transpose', {x}, {perm: [3, 1, 2, 0]});
  const dyT = callKernel(BACKEND, backend, 'Transpose', {x: dy}, {perm: [1, 2, 0, 3]});
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
      ...(dimRoundingMode === undefined ? {} : {dimRoundingMode}),
    },
  );
  release(backend, xT, dyT);
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
