/** Layout, indexing and creation kernels, and batched matrix products. */
import * as tf from '@tensorflow/tfjs-core';
import type {DataType, KernelConfig} from '@tensorflow/tfjs-core';
import {DTYPE_CODES} from '../native-binding.js';
import {torchDType} from '../torch-backend.js';
import {input, inputList, kernel, numberAttr, numbersAttr} from './define.js';

function axisOf(axis: number, rank: number): number {
  return axis < 0 ? axis + rank : axis;
}

export const shapeKernels: KernelConfig[] = [
  kernel('Reshape', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'Reshape');
    const shape = tf.util.inferFromImplicitShape(numbersAttr(attrs, 'shape'), tf.util.sizeFromShape(x.shape));
    return backend.output(backend.native.reshape(backend.handle(x), shape));
  }),
  kernel('ExpandDims', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'input', 'ExpandDims');
    const shape = [...x.shape];
    let dim = numberAttr(attrs, 'dim');
    if (dim < 0) dim += shape.length + 1;
    shape.splice(dim, 0, 1);
    return backend.output(backend.native.reshape(backend.handle(x), shape));
  }),
  kernel('Transpose', ({backend, inputs, attrs}) =>
    backend.output(backend.native.transpose(backend.handle(input(inputs, 'x', 'Transpose')), numbersAttr(attrs, 'perm'))),
  ),
  kernel('Identity', ({backend, inputs}) => backend.output(backend.native.identity(backend.handle(input(inputs, 'x', 'Identity'))))),
  kernel('Slice', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'Slice');
    const [begin = [], size = []] = tf.slice_util.parseSliceParams(
      x as tf.TensorInfo as tf.Tensor,
      numbersAttr(attrs, 'begin'),
      numbersAttr(attrs, 'size'),
    );
    tf.slice_util.assertParamsValid(x as tf.TensorInfo as tf.Tensor, begin, size);
    return backend.output(backend.native.slice(backend.handle(x), begin, size));
  }),
  kernel('StridedSlice', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'StridedSlice');
    const info = tf.slice_util.sliceInfo(
      x.shape,
      numbersAttr(attrs, 'begin'),
      numbersAttr(attrs, 'end'),
      numbersAttr(attrs, 'strides'),
      numberAttr(attrs, 'beginMask'),
      numberAttr(attrs, 'endMask'),
      numberAttr(attrs, 'ellipsisMask'),
      numberAttr(attrs, 'newAxisMask'),
      numberAttr(attrs, 'shrinkAxisMask'),
    );
    const sliced = backend.native.stridedSlice(backend.handle(x), info.begin, info.end, info.strides);
    const out = backend.native.reshape(sliced, info.finalShape);
    backend.native.release(sliced);
    return backend.output(out);
  }),
  kernel('Concat', ({backend, inputs, attrs}) => {
    const xs = inputList(inputs);
    const first = xs[0];
    if (first === undefined) throw new Error('Internal error: Concat of no tensors');
    const axis = tf.util.parseAxisParam(numberAttr(attrs, 'axis'), first.shape)[0] ?? 0;
    return backend.output(backend.native.concat(xs.map((t) => backend.handle(t)), axis));
  }),
  kernel('Pack', ({backend, inputs, attrs}) => {
    const xs = inputList(inputs);
    const rank = (xs[0]?.shape.length ?? 0) + 1;
    return backend.output(backend.native.pack(xs.map((t) => backend.handle(t)), axisOf(numberAttr(attrs, 'axis'), rank)));
  }),
  kernel('Unpack', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'value', 'Unpack');
    return backend.native.unpack(backend.handle(x), axisOf(numberAttr(attrs, 'axis'), x.shape.length)).map((h) => backend.output(h));
  }),
  kernel('SplitV', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'SplitV');
    const axis = tf.util.parseAxisParam(numberAttr(attrs, 'axis'), x.shape)[0] ?? 0;
    const sizes = tf.backend_util.prepareSplitSize(
      x as tf.TensorInfo as tf.Tensor,
      attrs['numOrSizeSplits'] as number | number[],
      axis,
    );
    return backend.native.splitV(backend.handle(x), sizes, axis).map((h) => backend.output(h));
  }),
  kernel('PadV2', ({backend, inputs, attrs}) => {
    const paddings = (attrs['paddings'] as Array<[number, number]>).flat();
    return backend.output(
      backend.native.pad(backend.handle(input(inputs, 'x', 'PadV2')), paddings, numberAttr(attrs, 'constantValue')),
    );
  }),
  kernel('Tile', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'Tile');
    const reps = numbersAttr(attrs, 'reps');
    // Repeating only size-1 dimensions is a broadcast (tf.broadcastTo): a view that copies nothing.
    if (reps.every((r, i) => r === 1 || x.shape[i] === 1)) {
      return backend.output(backend.native.expand(backend.handle(x), x.shape.map((d, i) => d * (reps[i] ?? 1))));
    }
    return backend.output(backend.native.tile(backend.handle(x), reps));
  }),
  kernel('Reverse', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'Reverse');
    const dims = tf.util.parseAxisParam(numbersAttr(attrs, 'dims'), x.shape);
    return backend.output(backend.native.reverse(backend.handle(x), dims));
  }),
  kernel('GatherV2', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'GatherV2');
    const indices = input(inputs, 'indices', 'GatherV2');
    const axis = tf.util.parseAxisParam(numberAttr(attrs, 'axis'), x.shape)[0] ?? 0;
    const batchDims = numberAttr(attrs, 'batchDims');
    return backend.output(backend.native.gather(backend.handle(x), backend.handle(indices), axis, batchDims));
  }),
  kernel('UnsortedSegmentSum', ({backend, inputs, attrs}) =>
    backend.output(
      backend.native.unsortedSegmentSum(
        backend.handle(input(inputs, 'x', 'UnsortedSegmentSum')),
        backend.handle(input(inputs, 'segmentIds', 'UnsortedSegmentSum')),
        numberAttr(attrs, 'numSegments'),
      ),
    ),
  ),
  kernel('Fill', ({backend, attrs}) => {
    const dtype = torchDType((attrs['dtype'] ?? 'float32') as DataType);
    return backend.output(backend.native.fill(numbersAttr(attrs, 'shape'), Number(attrs['value']), DTYPE_CODES[dtype]));
  }),
  ...(['ZerosLike', 'OnesLike'] as const).map((name) =>
    kernel(name, ({backend, inputs}) => {
      const x = input(inputs, 'x', name);
      return backend.output(backend.native.fill(x.shape, name === 'OnesLike' ? 1 : 0, DTYPE_CODES[torchDType(x.dtype)]));
    }),
  ),
  kernel('Range', ({backend, attrs}) => {
    const start = numberAttr(attrs, 'start');
    const stop = numberAttr(attrs, 'stop');
    const step = numberAttr(attrs, 'step');
    const dtype = DTYPE_CODES[torchDType((attrs['dtype'] ?? 'float32') as DataType)];
    // ATen rejects a step that points away from stop; tfjs gives an empty tensor.
    if (step === 0 || (stop - start) / step <= 0) return backend.output(backend.native.fill([0], 0, dtype));
    return backend.output(backend.native.range(start, stop, step, dtype));
  }),
  kernel('OneHot', ({backend, inputs, attrs}) => {
    const dtype = DTYPE_CODES[torchDType((attrs['dtype'] ?? 'int32') as DataType)];
    return backend.output(
      backend.native.oneHot(
        backend.handle(input(inputs, 'indices', 'OneHot')),
        numberAttr(attrs, 'depth'),
        numberAttr(attrs, 'onValue'),
        numberAttr(attrs, 'offValue'),
        dtype,
      ),
    );
  }),
  kernel('BatchMatMul', ({backend, inputs, attrs}) =>
    backend.output(
      backend.native.batchMatMul(
        backend.handle(input(inputs, 'a', 'BatchMatMul')),
        backend.handle(input(inputs, 'b', 'BatchMatMul')),
        attrs['transposeA'] === true,
        attrs['transposeB'] === true,
      ),
    ),
  ),
];
