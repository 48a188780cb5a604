/** Reductions, arg-extrema, softmax and cumulative sums. */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, NamedAttrMap, TensorInfo} from '@tensorflow/tfjs-core';
import {input, kernel, numberAttr} from './define.js';

/** The reduced axes, normalised to non-negative numbers (tfjs allows negative axes and `null` for all). */
function axes(attrs: NamedAttrMap, name: string, x: TensorInfo): number[] {
  const raw = attrs[name] as number | number[] | null | undefined;
  // tfjs's parseAxisParam takes null (declared or not) for "every axis".
  return tf.util.parseAxisParam((raw ?? null) as number | number[], x.shape);
}

/** Reductions and the attribute each names its axes by. */
const REDUCTIONS: ReadonlyArray<readonly [string, string]> = [
  ['Sum', 'axis'],
  ['Mean', 'axis'],
  ['Max', 'reductionIndices'],
  ['Min', 'axis'],
  ['Prod', 'axis'],
  ['All', 'axis'],
  ['Any', 'axis'],
];

function normalisedAxis(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export const reduceKernels: KernelConfig[] = [
  ...REDUCTIONS.map(([name, axisAttr]) =>
    kernel(name, ({backend, inputs, attrs}) => {
      const x = input(inputs, 'x', name);
      return backend.output(backend.native.reduce(name, backend.handle(x), axes(attrs, axisAttr, x), attrs['keepDims'] === true));
    }),
  ),
  ...(['ArgMax', 'ArgMin'] as const).map((name) =>
    kernel(name, ({backend, inputs, attrs}) => {
      const x = input(inputs, 'x', name);
      const axis = normalisedAxis(numberAttr(attrs, 'axis'), x.shape.length);
      return backend.output(backend.native.argMinMax(backend.handle(x), axis, name === 'ArgMax'));
    }),
  ),
  kernel('Softmax', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'logits', 'Softmax');
    return backend.output(backend.native.softmax(backend.handle(x), normalisedAxis(numberAttr(attrs, 'dim'), x.shape.length)));
  }),
  kernel('LogSoftmax', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'logits', 'LogSoftmax');
    return backend.output(backend.native.logSoftmax(backend.handle(x), normalisedAxis(numberAttr(attrs, 'axis'), x.shape.length)));
  }),
  kernel('Cumsum', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'Cumsum');
    const axis = normalisedAxis(numberAttr(attrs, 'axis'), x.shape.length);
    return backend.output(backend.native.cumsum(backend.handle(x), axis, attrs['exclusive'] === true, attrs['reverse'] === true));
  }),
  kernel('TopK', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'TopK');
    return backend.native.topK(backend.handle(x), numberAttr(attrs, 'k'), attrs['sorted'] !== false).map((h) => backend.output(h));
  }),
];
