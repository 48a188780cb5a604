/** Element-wise kernels: one ATen call each, with numpy broadcasting as tfjs has it. */
import type {KernelConfig, TensorInfo} from '@tensorflow/tfjs-core';
import {DTYPE_CODES} from '../native-binding.js';
import {torchDType} from '../torch-backend.js';
import {input, inputList, kernel, numberAttr} from './define.js';

/** Kernels of one input `x` that map to an ATen function of the same meaning (the names are tfjs's). */
const UNARY = [
  'Abs', 'Acos', 'Acosh', 'Asin', 'Asinh', 'Atan', 'Atanh', 'Ceil', 'Cos', 'Cosh', 'Elu', 'Erf', 'Exp', 'Expm1', 'Floor',
  'IsFinite', 'IsInf', 'IsNan', 'Log', 'Log1p', 'LogicalNot', 'Neg', 'Reciprocal', 'Relu', 'Relu6', 'Round', 'Rsqrt',
  'Selu', 'Sigmoid', 'Sign', 'Sin', 'Sinh', 'Softplus', 'Sqrt', 'Square', 'Tan', 'Tanh',
] as const;

/** Kernels of inputs `a` and `b`. */
const BINARY = [
  'Add', 'Sub', 'Multiply', 'RealDiv', 'FloorDiv', 'Mod', 'Pow', 'Maximum', 'Minimum', 'SquaredDifference', 'Atan2',
  'Equal', 'NotEqual', 'Greater', 'GreaterEqual', 'Less', 'LessEqual', 'LogicalAnd', 'LogicalOr', 'LogicalXor',
] as const;

export const elementwiseKernels: KernelConfig[] = [
  ...UNARY.map((name) =>
    kernel(name, ({backend, inputs}) => backend.output(backend.native.unary(name, backend.handle(input(inputs, 'x', name))))),
  ),
  ...BINARY.map((name) =>
    kernel(name, ({backend, inputs}) => {
      const a = backend.handle(input(inputs, 'a', name));
      const b = backend.handle(input(inputs, 'b', name));
      return backend.output(backend.native.binary(name, a, b));
    }),
  ),
  kernel('ReluGrad', ({backend, inputs}) =>
    backend.output(
      backend.native.binary('ReluGrad', backend.handle(input(inputs, 'dy', 'ReluGrad')), backend.handle(input(inputs, 'x', 'ReluGrad'))),
    ),
  ),
  kernel('EluGrad', ({backend, inputs}) =>
    backend.output(
      backend.native.binary('EluGrad', backend.handle(input(inputs, 'dy', 'EluGrad')), backend.handle(input(inputs, 'y', 'EluGrad'))),
    ),
  ),
  kernel('Prelu', ({backend, inputs}) =>
    backend.output(
      backend.native.binary('Prelu', backend.handle(input(inputs, 'x', 'Prelu')), backend.handle(input(inputs, 'alpha', 'Prelu'))),
    ),
  ),
  kernel('LeakyRelu', ({backend, inputs, attrs}) =>
    backend.output(backend.native.leakyRelu(backend.handle(input(inputs, 'x', 'LeakyRelu')), numberAttr(attrs, 'alpha'))),
  ),
  kernel('Step', ({backend, inputs, attrs}) =>
    backend.output(backend.native.step(backend.handle(input(inputs, 'x', 'Step')), numberAttr(attrs, 'alpha'))),
  ),
  kernel('ClipByValue', ({backend, inputs, attrs}) =>
    backend.output(
      backend.native.clipByValue(
        backend.handle(input(inputs, 'x', 'ClipByValue')),
        numberAttr(attrs, 'clipValueMin'),
        numberAttr(attrs, 'clipValueMax'),
      ),
    ),
  ),
  kernel('AddN', ({backend, inputs}) => backend.output(backend.native.addN(inputList(inputs).map((t) => backend.handle(t))))),
  kernel('Select', ({backend, inputs}) =>
    backend.output(
      backend.native.select(
        backend.handle(input(inputs, 'condition', 'Select')),
        backend.handle(input(inputs, 't', 'Select')),
        backend.handle(input(inputs, 'e', 'Select')),
      ),
    ),
  ),
  kernel('Cast', ({backend, inputs, attrs}) => {
    const x = input(inputs, 'x', 'Cast');
    const to = torchDType(attrs['dtype'] as TensorInfo['dtype']);
    if (to === x.dtype) return backend.output(backend.native.identity(backend.handle(x)));
    return backend.output(backend.native.cast(backend.handle(x), DTYPE_CODES[to]));
  }),
];
