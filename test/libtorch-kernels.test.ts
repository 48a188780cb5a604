/**
 * Every kernel of the libtorch backend against the cpu backend's reference kernels, on seeded random inputs with
 * odd sizes, broadcasting, strides, 'same'/'valid'/explicit and unequal padding, dilation and transposes; and a check
 * that the table below covers every kernel the backend registers, so a new kernel cannot go unchecked.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs-core';
import type {DataType, NamedAttrMap, NamedTensorMap} from '@tensorflow/tfjs-core';
import {compositeBatchNormGrad, compositeInstanceNormGrad} from '../ml/fused-norm.js';
import {torchKernels} from '../ml/libtorch/kernels/index.js';
import {withBackend} from './util/gradcheck.js';
import type {TestBackend} from './util/gradcheck.js';

/** An input: its shape, dtype (float32 by default) and the range its seeded uniform values come from. */
interface Spec {
  readonly shape: readonly number[];
  readonly dtype?: DataType;
  readonly range?: readonly [number, number];
  /** Explicit values (for indices and the like). */
  readonly values?: readonly number[];
}

interface Case {
  readonly kernel: string;
  readonly label?: string;
  /** Named inputs, or a list for the kernels that take one (Concat, Pack, AddN). */
  readonly inputs: Readonly<Record<string, Spec>> | readonly Spec[];
  readonly attrs?: NamedAttrMap;
  readonly tol?: number;
  /**
   * What to compare with when the cpu backend has no such kernel or gets it wrong: computed on cpu from the same
   * inputs (in the order of the case's inputs) with other ops.
   */
  readonly reference?: (inputs: tf.Tensor[], attrs: NamedAttrMap) => tf.Tensor | tf.Tensor[];
  /** Why the reference replaces the cpu kernel. */
  readonly why?: string;
}

function values(spec: Spec, seed: number): number[] {
  if (spec.values !== undefined) return [...spec.values];
  const n = spec.shape.reduce((a, b) => a * b, 1);
  const [lo, hi] = spec.range ?? [-1, 1];
  let s = (seed * 2654435761) >>> 0;
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const u = s / 2 ** 32;
    if (spec.dtype === 'bool') out.push(u < 0.5 ? 1 : 0);
    else if (spec.dtype === 'int32') out.push(Math.floor(lo + u * (hi - lo)));
    else out.push(lo + u * (hi - lo));
  }
  return out;
}

interface Output {
  readonly shape: number[];
  readonly dtype: DataType;
  readonly values: number[];
}

async function runOn(backend: TestBackend, c: Case, useReference = false): Promise<Output[]> {
  return withBackend(backend, () => {
    const make = (spec: Spec, i: number): tf.Tensor => tf.tensor(values(spec, i + 1), [...spec.shape], spec.dtype ?? 'float32');
    const list = Array.isArray(c.inputs) ? (c.inputs as readonly Spec[]).map(make) : undefined;
    const named: NamedTensorMap = {};
    if (list === undefined) Object.entries(c.inputs as Record<string, Spec>).forEach(([k, v], i) => (named[k] = make(v, i)));
    const inputs = (list ?? named) as unknown as NamedTensorMap;
    const before = tf.engine().backend.numDataIds();
    const raw =
      useReference && c.reference !== undefined
        ? tf.tidy(() => c.reference?.(list ?? Object.values(named), c.attrs ?? {}) ?? [])
        : (tf.engine().runKernel(c.kernel, inputs, c.attrs ?? {}) as tf.Tensor | tf.Tensor[]);
    const outs = Array.isArray(raw) ? raw : [raw];
    // At most one new data id per output (reshape-like kernels may share their input's data): kernels free their
    // intermediates.
    if (!useReference) {
      assert.ok(tf.engine().backend.numDataIds() <= before + outs.length, `${c.kernel} on ${backend} left intermediates behind`);
    }
    const result = outs.map((t) => ({shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync() as ArrayLike<number>)}));
    tf.dispose([...outs, ...(list ?? Object.values(named))]);
    return result;
  });
}

const f = (shape: readonly number[], range?: readonly [number, number]): Spec => (range ? {shape, range} : {shape});
const positive = (shape: readonly number[]): Spec => ({shape, range: [0.2, 2]});
const bool = (shape: readonly number[]): Spec => ({shape, dtype: 'bool'});
const ints = (shape: readonly number[], values: readonly number[]): Spec => ({shape, dtype: 'int32', values});

const UNARY: Record<string, Spec> = {
  Acosh: {shape: [3, 5, 7], range: [1.1, 3]},
  Log: positive([3, 5, 7]),
  Sqrt: positive([3, 5, 7]),
  Rsqrt: positive([3, 5, 7]),
  Reciprocal: positive([3, 5, 7]),
  Acos: f([3, 5, 7], [-0.9, 0.9]),
  Asin: f([3, 5, 7], [-0.9, 0.9]),
  Atanh: f([3, 5, 7], [-0.9, 0.9]),
  LogicalNot: bool([3, 5, 7]),
  Relu6: f([3, 5, 7], [-8, 8]),
};
const UNARY_NAMES = [
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'Ceil', 'Cos', 'Cosh', 'Elu', 'Erf', 'Exp', 'Expm1', 'Floor',
  'IsFinite', 'IsInf', 'IsNan', 'Log', 'Log1p', 'LogicalNot', 'Neg', 'Reciprocal', 'Relu', 'Relu6', 'Round', 'Rsqrt',
  'Selu', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Softplus', 'Sqrt', 'Square', 'Tan', 'Tanh',
];
const BINARY_NAMES = [
  'Add', 'Sub', 'Multiply', 'RealDiv', 'FloorDiv', 'Mod', 'Pow', 'Maximum', 'Minimum', 'SquaredDifference', 'Atan2',
  'Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr', 'LogicalXor',
];
function binaryInputs(name: string): Record<string, Spec> {
  if (name.startsWith('Logical')) return {a: bool([4, 1, 5]), b: bool([3, 5])};
  if (name === 'Pow') return {a: positive([4, 1, 5]), b: f([3, 5], [-2, 2])};
  if (name === 'FloorDiv' || name === 'Mod' || name === 'RealDiv') return {a: f([4, 1, 5], [-3, 3]), b: f([3, 5], [0.3, 1.5])};
  // Coarse values make ties, so Equal/GreaterEqual see both outcomes.
  if (['Equal', 'NotEqual', 'GreaterEqual', 'LessEqual'].includes(name)) {
    return {a: {shape: [4, 1, 5], dtype: 'int32', range: [0, 3]}, b: {shape: [3, 5], dtype: 'int32', range: [0, 3]}};
  }
  return {a: f([4, 1, 5]), b: f([3, 5])};
}

function conv(kernel: string, label: string, x: number[], w: number[], attrs: NamedAttrMap, depthwise = false): Case[] {
  const [n, h, wd, c] = x as [number, number, number, number];
  const [kh, kw, , o] = w as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(
    [n, h, wd, c],
    [kh, kw, c, o],
    attrs['strides'] as [number, number],
    (attrs['dilations'] ?? [1, 1]) as [number, number],
    attrs['pad'] as 'same',
    undefined,
    depthwise,
  );
  const dy: number[] = [n, info.outHeight, info.outWidth, info.outChannels];
  const names = depthwise
    ? ['DepthwiseConv2dNative', 'DepthwiseConv2dNativeBackpropInput', 'DepthwiseConv2dNativeBackpropFilter']
    : ['Conv2D', 'Conv2DBackpropInput', 'Conv2DBackpropFilter'];
  void kernel;
  attrs = {...attrs, dataFormat: 'NHWC'};
  return [
    {kernel: names[0] ?? '', label, inputs: {x: f(x), filter: f(w)}, attrs},
    {kernel: names[1] ?? '', label, inputs: {dy: f(dy), filter: f(w)}, attrs: {...attrs, inputShape: x}},
    {kernel: names[2] ?? '', label, inputs: {x: f(x), dy: f(dy)}, attrs: {...attrs, filterShape: w}},
  ];
}

/**
 * AvgPoolGrad as the transpose of the (linear) average pool: element i of the result is <avgPool(e_i), dy>. The cpu
 * backend's own AvgPoolGrad divides by the whole window even where the forward pass left padding out of the average,
 * so with padding it is not the gradient of its own AvgPool.
 */
function avgPoolTranspose(inputs: tf.Tensor[], attrs: NamedAttrMap): tf.Tensor {
  const [dy, x] = inputs as [tf.Tensor4D, tf.Tensor4D];
  const n = x.size;
  const out = new Float32Array(n);
  const dyValues = dy.dataSync();
  for (let i = 0; i < n; i++) {
    const unit = new Float32Array(n);
    unit[i] = 1;
    const pooled = tf.engine().runKernel('AvgPool', {x: tf.tensor4d(unit, x.shape)}, attrs) as tf.Tensor;
    const p = pooled.dataSync();
    let dot = 0;
    for (let k = 0; k < p.length; k++) dot += (p[k] ?? 0) * (dyValues[k] ?? 0);
    out[i] = dot;
  }
  return tf.tensor4d(out, x.shape);
}

function pool(label: string, x: number[], filterSize: number[], strides: number[], pad: 'same' | 'valid' | number): Case[] {
  const info = tf.backend_util.computePool2DInfo(x as [number, number, number, number], filterSize as [number, number], strides as [number, number], 1, pad);
  const dy = [info.batchSize, info.outHeight, info.outWidth, info.outChannels];
  const attrs = {filterSize, strides, pad};
  const padded = pad !== 'valid';
  return [
    {kernel: 'AvgPool', label, inputs: {x: f(x)}, attrs},
    {kernel: 'MaxPool', label, inputs: {x: f(x)}, attrs},
    {
      kernel: 'AvgPoolGrad',
      label,
      inputs: {dy: f(dy), input: f(x)},
      attrs,
      ...(padded ? {reference: avgPoolTranspose, why: "cpu's AvgPoolGrad counts padding that its AvgPool leaves out"} : {}),
    },
    {kernel: 'MaxPoolGrad', label, inputs: {dy: f(dy), input: f(x), output: f(dy)}, attrs},
  ];
}

const CASES: readonly Case[] = [
  ...UNARY_NAMES.map((kernel): Case => ({kernel, inputs: {x: UNARY[kernel] ?? f([3, 5, 7], [-2, 2])}})),
  ...BINARY_NAMES.filter((k) => k !== 'LogicalXor').map((kernel): Case => ({kernel, inputs: binaryInputs(kernel)})),
  {
    kernel: 'LogicalXor',
    inputs: binaryInputs('LogicalXor'),
    reference: ([a, b]) => tf.notEqual(a as tf.Tensor, b as tf.Tensor),
    why: 'cpu has no LogicalXor kernel',
  },
  {
    kernel: 'ReluGrad',
    inputs: {dy: f([3, 5, 7]), x: f([3, 5, 7])},
    reference: ([dy, x]) => tf.mul(dy as tf.Tensor, tf.step(x as tf.Tensor)),
    why: 'the fused kernel exists only on libtorch',
  },
  {kernel: 'EluGrad', inputs: {dy: f([3, 5, 7]), y: f([3, 5, 7], [-0.9, 2])}},
  {kernel: 'Prelu', inputs: {x: f([3, 5, 7]), alpha: f([7], [0, 0.5])}},
  {kernel: 'LeakyRelu', inputs: {x: f([3, 5, 7])}, attrs: {alpha: 0.2}},
  {kernel: 'Step', inputs: {x: {shape: [5], values: [-1, 0, 2, Number.NaN, 0.5]}}, attrs: {alpha: 0.3}},
  {kernel: 'ClipByValue', inputs: {x: f([3, 5, 7], [-2, 2])}, attrs: {clipValueMin: -0.5, clipValueMax: 0.7}},
  {kernel: 'AddN', inputs: [f([3, 4]), f([3, 4]), f([3, 4])]},
  {kernel: 'Select', label: 'same shape', inputs: {condition: bool([3, 4]), t: f([3, 4]), e: f([3, 4])}},
  {kernel: 'Select', label: 'broadcast condition', inputs: {condition: bool([4, 1]), t: f([4, 3]), e: f([4, 3])}, reference: ([c, t, e]) => tf.where(tf.broadcastTo(c as tf.Tensor, [4, 3]), t as tf.Tensor, e as tf.Tensor), why: 'cpu selects element-wise without broadcasting; tf.where broadcasts before the kernel'},
  {kernel: 'Cast', label: 'float32 to int32 truncates', inputs: {x: f([3, 5], [-3, 3])}, attrs: {dtype: 'int32'}},
  {kernel: 'Cast', label: 'float32 to bool', inputs: {x: {shape: [4], values: [0, -0.5, 2, 0]}}, attrs: {dtype: 'bool'}},
  {kernel: 'Cast', label: 'int32 to float32', inputs: {x: ints([3], [1, -2, 7])}, attrs: {dtype: 'float32'}},
  {kernel: 'Cast', label: 'bool to float32', inputs: {x: bool([5])}, attrs: {dtype: 'float32'}},
  ...['Sum', 'Mean', 'Min', 'Prod'].flatMap((kernel): Case[] => [
    {kernel, label: 'axes [0, 2]', inputs: {x: f([3, 4, 5], [0.5, 1.5])}, attrs: {axis: [0, 2], keepDims: false}},
    {kernel, label: 'axis -1, keepDims', inputs: {x: f([3, 4, 5], [0.5, 1.5])}, attrs: {axis: -1, keepDims: true}},
  ]),
  {kernel: 'Sum', label: 'of int32', inputs: {x: {shape: [3, 4], dtype: 'int32', range: [-5, 5]}}, attrs: {axis: [1], keepDims: false}},
  {kernel: 'Sum', label: 'of bool counts', inputs: {x: bool([3, 4])}, attrs: {axis: [1], keepDims: false}},
  {kernel: 'Max', label: 'axes [1]', inputs: {x: f([3, 4, 5])}, attrs: {reductionIndices: [1], keepDims: false}},
  {kernel: 'Max', label: 'all axes, keepDims', inputs: {x: f([3, 4, 5])}, attrs: {reductionIndices: [0, 1, 2], keepDims: true}},
  {kernel: 'All', inputs: {x: bool([3, 4, 5])}, attrs: {axis: [0, 2], keepDims: false}},
  {kernel: 'Any', inputs: {x: bool([3, 4, 5])}, attrs: {axis: [1], keepDims: true}},
  {kernel: 'ArgMax', inputs: {x: f([3, 7, 5])}, attrs: {axis: 1}},
  {kernel: 'ArgMin', inputs: {x: f([3, 7, 5])}, attrs: {axis: -1}},
  {kernel: 'Softmax', inputs: {logits: f([3, 7], [-4, 4])}, attrs: {dim: -1}},
  {
    kernel: 'LogSoftmax',
    inputs: {logits: f([3, 7], [-4, 4])},
    attrs: {axis: -1},
    reference: ([x]) => tf.logSoftmax(x as tf.Tensor),
    why: 'cpu has no LogSoftmax kernel (tf.logSoftmax is composite)',
  },
  {kernel: 'Cumsum', label: 'plain', inputs: {x: f([3, 6])}, attrs: {axis: 1, exclusive: false, reverse: false}},
  {kernel: 'Cumsum', label: 'exclusive, reverse', inputs: {x: f([3, 6])}, attrs: {axis: 1, exclusive: true, reverse: true}},
  {kernel: 'TopK', inputs: {x: f([4, 9])}, attrs: {k: 3, sorted: true}},
  {kernel: 'Reshape', inputs: {x: f([3, 4, 5])}, attrs: {shape: [4, -1]}},
  {kernel: 'ExpandDims', inputs: {input: f([3, 4])}, attrs: {dim: -1}},
  {kernel: 'Transpose', inputs: {x: f([2, 3, 4, 5])}, attrs: {perm: [0, 3, 1, 2]}},
  {kernel: 'Identity', inputs: {x: f([3, 4])}},
  {kernel: 'Slice', inputs: {x: f([5, 6, 7])}, attrs: {begin: [1, 0, 2], size: [3, -1, 4]}},
  {
    kernel: 'StridedSlice',
    label: 'strides 2 and -1, masks',
    inputs: {x: f([6, 7, 5])},
    attrs: {begin: [1, 6, 0], end: [6, 0, 5], strides: [2, -1, 1], beginMask: 0, endMask: 4, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 0},
  },
  {
    kernel: 'StridedSlice',
    label: 'shrink axis',
    inputs: {x: f([6, 7])},
    attrs: {begin: [2, 1], end: [3, 6], strides: [1, 2], beginMask: 0, endMask: 0, ellipsisMask: 0, newAxisMask: 0, shrinkAxisMask: 1},
    reference: ([x]) => tf.tensor1d([1, 3, 5].map((j) => (x as tf.Tensor2D).arraySync()[2]?.[j] ?? NaN)),
    why: "cpu's strided slice reads the wrong row when a leading axis is shrunk",
  },
  {kernel: 'Concat', inputs: [f([2, 3, 4]), f([2, 1, 4]), f([2, 5, 4])], attrs: {axis: 1}},
  {kernel: 'Pack', inputs: [f([2, 3]), f([2, 3]), f([2, 3])], attrs: {axis: 1}},
  {kernel: 'Unpack', inputs: {value: f([3, 4, 2])}, attrs: {axis: 1}},
  {kernel: 'SplitV', inputs: {x: f([3, 9])}, attrs: {numOrSizeSplits: [2, 4, 3], axis: 1}},
  {kernel: 'PadV2', inputs: {x: f([2, 3, 4])}, attrs: {paddings: [[1, 0], [0, 2], [3, 1]], constantValue: 0.5}},
  {kernel: 'Tile', label: 'repeats', inputs: {x: f([2, 3])}, attrs: {reps: [2, 3]}},
  {kernel: 'Tile', label: 'broadcasts size-1 dimensions', inputs: {x: f([2, 1, 3, 1])}, attrs: {reps: [1, 4, 1, 5]}},
  {kernel: 'Reverse', inputs: {x: f([3, 4, 5])}, attrs: {dims: [0, 2]}},
  {kernel: 'GatherV2', label: 'axis 1', inputs: {x: f([3, 5, 4]), indices: ints([2, 3], [4, 0, 2, 2, 1, 3])}, attrs: {axis: 1, batchDims: 0}},
  {kernel: 'GatherV2', label: 'axis 0', inputs: {x: f([6, 4]), indices: ints([3], [5, 0, 5])}, attrs: {axis: 0, batchDims: 0}},
  {
    kernel: 'UnsortedSegmentSum',
    inputs: {x: f([6, 3]), segmentIds: ints([6], [2, 0, 2, 3, 0, 2])},
    attrs: {numSegments: 4},
  },
  {kernel: 'Fill', inputs: {}, attrs: {shape: [2, 3], value: 1.5, dtype: 'float32'}},
  {kernel: 'ZerosLike', inputs: {x: f([2, 3])}},
  {kernel: 'OnesLike', inputs: {x: {shape: [2, 3], dtype: 'int32', range: [0, 4]}}},
  {kernel: 'Range', label: 'up', inputs: {}, attrs: {start: 1, stop: 9, step: 2.5, dtype: 'float32'}},
  {kernel: 'Range', label: 'empty', inputs: {}, attrs: {start: 1, stop: 9, step: -1, dtype: 'int32'}},
  {kernel: 'OneHot', inputs: {indices: ints([4], [0, 3, 1, 7])}, attrs: {depth: 4, onValue: 2, offValue: -1, dtype: 'float32'}},
  {kernel: 'BatchMatMul', label: 'plain', inputs: {a: f([2, 3, 5]), b: f([2, 5, 4])}, attrs: {transposeA: false, transposeB: false}},
  {kernel: 'BatchMatMul', label: 'transposed', inputs: {a: f([2, 5, 3]), b: f([2, 4, 5])}, attrs: {transposeA: true, transposeB: true}},
  {kernel: 'BatchMatMul', label: 'broadcast batch', inputs: {a: f([1, 3, 5]), b: f([3, 5, 2])}, attrs: {transposeA: false, transposeB: false}},
  ...conv('Conv2D', 'same, stride 1', [2, 7, 6, 3], [3, 3, 3, 4], {strides: [1, 1], pad: 'same', dilations: [1, 1]}),
  ...conv('Conv2D', 'same, stride 2 (unequal padding)', [2, 8, 7, 3], [3, 3, 3, 4], {strides: [2, 2], pad: 'same', dilations: [1, 1]}),
  ...conv('Conv2D', 'valid, stride 2x1', [2, 9, 7, 2], [3, 2, 2, 5], {strides: [2, 1], pad: 'valid', dilations: [1, 1]}),
  ...conv('Conv2D', 'explicit padding 2', [1, 5, 5, 3], [3, 3, 3, 2], {strides: [1, 1], pad: 2, dilations: [1, 1]}),
  ...conv('Conv2D', 'explicit unequal padding', [1, 6, 5, 2], [3, 3, 2, 3], {
    strides: [1, 1],
    pad: [[0, 0], [1, 2], [0, 1], [0, 0]],
    dilations: [1, 1],
  }),
  // tfjs's conv2d and depthwise gradients refuse dilation > 1 (and cpu's gradient kernels ignore it), so only the
  // forward kernels are checked dilated.
  ...conv('Conv2D', 'dilation 2', [1, 9, 9, 2], [3, 3, 2, 3], {strides: [1, 1], pad: 'same', dilations: [2, 2]}).slice(0, 1),
  ...conv('Depthwise', 'dilation 2', [1, 9, 9, 2], [3, 3, 2, 2], {strides: [1, 1], pad: 'same', dilations: [2, 2]}, true).slice(0, 1),
  ...conv('Depthwise', 'same, stride 1', [2, 7, 6, 3], [3, 3, 3, 2], {strides: [1, 1], pad: 'same', dilations: [1, 1]}, true),
  ...conv('Depthwise', 'valid, stride 2', [2, 9, 8, 2], [3, 3, 2, 1], {strides: [2, 2], pad: 'valid', dilations: [1, 1]}, true),
  {
    kernel: 'InstanceNorm',
    inputs: {x: f([3, 5, 7, 4], [-2, 3]), gamma: f([4], [0.5, 1.5]), beta: f([4])},
    attrs: {eps: 1e-5},
    reference: ([x, gamma, beta]) => {
      const centered = tf.sub(x as tf.Tensor, tf.mean(x as tf.Tensor, [1, 2], true));
      const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), [1, 2], true), 1e-5));
      return tf.add(tf.mul(tf.mul(centered, rstd), gamma as tf.Tensor), beta as tf.Tensor);
    },
    why: 'a fused kernel of the libtorch backend; the reference is the composite tfjs ops',
  },
  {
    kernel: 'InstanceNormGrad',
    inputs: {dy: f([3, 5, 7, 4]), x: f([3, 5, 7, 4], [-2, 3]), gamma: f([4], [0.5, 1.5])},
    attrs: {eps: 1e-5},
    reference: ([dy, x, gamma]) => compositeInstanceNormGrad(dy as tf.Tensor, x as tf.Tensor, gamma as tf.Tensor, 1e-5),
    why: 'a fused kernel of the libtorch backend; the reference is the composite gradient formula',
    tol: 1e-4,
  },
  {
    kernel: 'BatchNormTrain',
    inputs: {x: f([600, 3, 5, 4], [-2, 3]), gamma: f([4], [0.5, 1.5]), beta: f([4])},
    attrs: {eps: 1e-5},
    reference: ([x, gamma, beta]) => {
      const mean = tf.mean(x as tf.Tensor, [0, 1, 2], true);
      const centered = tf.sub(x as tf.Tensor, mean);
      const variance = tf.mean(tf.square(centered), [0, 1, 2], true);
      const y = tf.add(tf.mul(tf.mul(centered, tf.rsqrt(tf.add(variance, 1e-5))), gamma as tf.Tensor), beta as tf.Tensor);
      return [y, tf.reshape(mean, [4]), tf.reshape(variance, [4])];
    },
    why: 'a fused kernel of the libtorch backend (600 images: several row chunks); the reference is the composite tfjs ops',
    tol: 1e-4,
  },
  {
    kernel: 'BatchNormTrainGrad',
    inputs: {dy: f([600, 3, 5, 4]), x: f([600, 3, 5, 4], [-2, 3]), gamma: f([4], [0.5, 1.5])},
    attrs: {eps: 1e-5},
    reference: ([dy, x, gamma]) => compositeBatchNormGrad(dy as tf.Tensor, x as tf.Tensor, gamma as tf.Tensor, 1e-5),
    why: 'a fused kernel of the libtorch backend; the reference is the composite gradient formula',
    tol: 1e-4,
  },
  ...pool('2x2 stride 2 valid', [2, 8, 6, 3], [2, 2], [2, 2], 'valid'),
  ...pool('3x3 stride 2 same, odd size', [2, 7, 7, 3], [3, 3], [2, 2], 'same'),
  ...pool('2x2 stride 2 same, odd size (unequal padding)', [2, 7, 5, 3], [2, 2], [2, 2], 'same'),
  ...pool('3x3 stride 1 same', [1, 5, 6, 2], [3, 3], [1, 1], 'same'),
];

function compare(c: Case, cpu: Output[], torch: Output[]): void {
  const name = `${c.kernel}${c.label ? ` (${c.label})` : ''}`;
  assert.equal(torch.length, cpu.length, `${name}: number of outputs`);
  cpu.forEach((want, k) => {
    const got = torch[k];
    assert.ok(got !== undefined);
    assert.deepEqual(got.shape, want.shape, `${name}: shape of output ${k}`);
    assert.equal(got.dtype, want.dtype, `${name}: dtype of output ${k}`);
    const scale = Math.max(1, ...want.values.map((v) => (Number.isFinite(v) ? Math.abs(v) : 0)));
    want.values.forEach((w, i) => {
      const g = got.values[i] ?? NaN;
      if (Number.isNaN(w)) return assert.ok(Number.isNaN(g), `${name}: element ${i} is ${g}, want NaN`);
      if (!Number.isFinite(w)) return assert.equal(g, w, `${name}: element ${i}`);
      assert.ok(Math.abs(g - w) <= (c.tol ?? 1e-5) * scale, `${name}: element ${i} is ${g}, want ${w}`);
    });
  });
}

describe('libtorch kernels against cpu', () => {
  it('the table covers every kernel the backend registers', () => {
    const covered = new Set(CASES.map((c) => c.kernel));
    const missing = torchKernels.map((k) => k.kernelName).filter((k) => !covered.has(k));
    assert.deepEqual(missing, []);
  });

  for (const c of CASES) {
    it(`${c.kernel}${c.label ? ` (${c.label})` : ''}`, async () => {
      compare(c, await runOn('cpu', c, true), await runOn('libtorch', c));
    });
  }
});
