/** The fused normalisation kernels (ml/fused-norm.ts registers their gradients). */
import type {KernelConfig} from '@tensorflow/tfjs-core';
import type {Handle} from '../native-binding.js';
import type {TorchBackend} from '../torch-backend.js';
import {input, kernel, numberAttr} from './define.js';

type Fused = (b: TorchBackend, a: Handle, x: Handle, gamma: Handle, eps: number) => Handle | Handle[];

/** A kernel of three named inputs and an `eps` attribute over one of the addon's norm functions. */
function normKernel(name: string, inputNames: readonly [string, string, string], run: Fused): KernelConfig {
  return kernel(name, ({backend, inputs, attrs}) => {
    const [a, b, c] = inputNames.map((n) => backend.handle(input(inputs, n, name))) as [Handle, Handle, Handle];
    const out = run(backend, a, b, c, numberAttr(attrs, 'eps'));
    return Array.isArray(out) ? out.map((h) => backend.output(h)) : backend.output(out);
  });
}

export const normKernels: KernelConfig[] = [
  normKernel('InstanceNorm', ['x', 'gamma', 'beta'], (b, x, gamma, beta, eps) => b.native.instanceNorm(x, gamma, beta, eps)),
  normKernel('InstanceNormGrad', ['dy', 'x', 'gamma'], (b, dy, x, gamma, eps) => b.native.instanceNormGrad(dy, x, gamma, eps)),
  normKernel('BatchNormTrain', ['x', 'gamma', 'beta'], (b, x, gamma, beta, eps) => b.native.batchNormTrain(x, gamma, beta, eps)),
  normKernel('BatchNormTrainGrad', ['dy', 'x', 'gamma'], (b, dy, x, gamma, eps) => b.native.batchNormTrainGrad(dy, x, gamma, eps)),
];
