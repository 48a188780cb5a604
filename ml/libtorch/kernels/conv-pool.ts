/**
 * Convolutions (plain and depthwise, with their input and filter gradients) and pooling. The geometry (padding for
 * 'same'/'valid'/explicit, output sizes) is tfjs's own backend_util, so shapes agree with every other backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import type {TorchBackend} from '../torch-backend.js';
import {input, kernel, numbersAttr} from './define.js';

type Conv2DInfo = tf.backend_util.Conv2DInfo;

function requireNHWC(attrs: NamedAttrMap, name: string): void {
  const format = attrs['dataFormat'];
  if (format !== undefined && format !== 'NHWC' && format !== 'channelsLast') {
    throw new Error(`the libtorch backend runs ${name} on NHWC data only, not ${String(format)}`);
  }
}

function pair(attrs: NamedAttrMap, name: string): [number, number] {
  const v = attrs[name];
  if (v === undefined || v === null) return [1, 1];
  const a = numbersAttr(attrs, name);
  return [a[0] ?? 1, a[1] ?? a[0] ?? 1];
}

function geometry(info: Conv2DInfo): {stride: number[]; pads: number[]; dilation: number[]} {
  const p = info.padInfo;
  return {
    stride: [info.strideHeight, info.strideWidth],
    pads: [p.top, p.bottom, p.left, p.right],
    dilation: [info.dilationHeight, info.dilationWidth],
  };
}

type Pad = tf.backend_util.PadInfo['type'] | number | tf.backend_util.ExplicitPadding;

/**
 * The geometry of a convolution. tfjs's Conv2DBackpropInput/Filter have no dilation (its conv2d gradient refuses
 * dilated convolutions), so `dilated` is false for them; the depthwise gradient kernels do take dilations.
 */
function convInfo(
  xShape: readonly number[],
  filterShape: readonly number[],
  attrs: NamedAttrMap,
  depthwise: boolean,
  dilated = true,
): Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    pair(attrs, 'strides'),
    dilated ? pair(attrs, 'dilations') : [1, 1],
    attrs['pad'] as Pad as 'same',
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
    depthwise,
  );
}

function convForward(name: string, depthwise: boolean): KernelConfig {
  return kernel(name, ({backend, inputs, attrs}) => {
    requireNHWC(attrs, name);
    const x = input(inputs, 'x', name);
    const filter = input(inputs, 'filter', name);
    const g = geometry(convInfo(x.shape, filter.shape, attrs, depthwise));
    return backend.output(
      backend.native.conv2d(backend.handle(x), backend.handle(filter), g.stride, g.pads, g.dilation, depthwise),
    );
  });
}

function convInput(name: string, depthwise: boolean): KernelConfig {
  return kernel(name, ({backend, inputs, attrs}) => {
    requireNHWC(attrs, name);
    const dy = input(inputs, 'dy', name);
    const filter = input(inputs, 'filter', name);
    const inputShape = numbersAttr(attrs, 'inputShape');
    const g = geometry(convInfo(inputShape, filter.shape, attrs, depthwise, depthwise));
    return backend.output(
      backend.native.conv2dBackpropInput(backend.handle(dy), backend.handle(filter), inputShape, g.stride, g.pads, g.dilation, depthwise),
    );
  });
}

function convFilter(name: string, depthwise: boolean): KernelConfig {
  return kernel(name, ({backend, inputs, attrs}) => {
    requireNHWC(attrs, name);
    const x = input(inputs, 'x', name);
    const dy = input(inputs, 'dy', name);
    const filterShape = numbersAttr(attrs, 'filterShape');
    const g = geometry(convInfo(x.shape, filterShape, attrs, depthwise, depthwise));
    return backend.output(
      backend.native.conv2dBackpropFilter(backend.handle(x), backend.handle(dy), filterShape, g.stride, g.pads, g.dilation, depthwise),
    );
  });
}

function poolGeometry(x: TensorInfo, attrs: NamedAttrMap): {kernel: number[]; stride: number[]; pads: number[]} {
  const info = tf.backend_util.computePool2DInfo(
    x.shape as [number, number, number, number],
    pair(attrs, 'filterSize'),
    pair(attrs, 'strides'),
    1,
    attrs['pad'] as Pad as 'same',
    attrs['dimRoundingMode'] as 'floor' | 'round' | 'ceil' | undefined,
  );
  const p = info.padInfo;
  return {kernel: [info.filterHeight, info.filterWidth], stride: [info.strideHeight, info.strideWidth], pads: [p.top, p.bottom, p.left, p.right]};
}

function pool(name: 'AvgPool' | 'MaxPool', run: (b: TorchBackend, x: TensorInfo, g: ReturnType<typeof poolGeometry>) => TensorInfo): KernelConfig {
  return kernel(name, ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', name);
    return run(backend, x, poolGeometry(x, attrs));
  });
}

export const convPoolKernels: KernelConfig[] = [
  convForward('Conv2D', false),
  convInput('Conv2DBackpropInput', false),
  convFilter('Conv2DBackpropFilter', false),
  convForward('DepthwiseConv2dNative', true),
  convInput('DepthwiseConv2dNativeBackpropInput', true),
  convFilter('DepthwiseConv2dNativeBackpropFilter', true),
  pool('AvgPool', (b, x, g) => b.output(b.native.avgPool(b.handle(x), g.kernel, g.stride, g.pads))),
  pool('MaxPool', (b, x, g) => b.output(b.native.maxPool(b.handle(x), g.kernel, g.stride, g.pads))),
  kernel('AvgPoolGrad', ({backend, inputs, attrs}) => {
    const dy = input(inputs, 'dy', 'AvgPoolGrad');
    const x = input(inputs, 'input', 'AvgPoolGrad');
    const g = poolGeometry(x, attrs);
    return backend.output(backend.native.avgPoolGrad(backend.handle(dy), backend.handle(x), g.kernel, g.stride, g.pads));
  }),
  kernel('MaxPoolGrad', ({backend, inputs, attrs}) => {
    const dy = input(inputs, 'dy', 'MaxPoolGrad');
    const x = input(inputs, 'input', 'MaxPoolGrad');
    const g = poolGeometry(x, attrs);
    return backend.output(backend.native.maxPoolGrad(backend.handle(dy), backend.handle(x), g.kernel, g.stride, g.pads));
  }),
];
