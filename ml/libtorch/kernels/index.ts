/** Every kernel of the libtorch backend. */
import * as tf from '@tensorflow/tfjs-core';
import {TORCH_BACKEND_NAME} from '../torch-backend.js';
import {convPoolKernels} from './conv-pool.js';
import {elementwiseKernels} from './elementwise.js';
import {normKernels} from './norm.js';
import {reduceKernels} from './reduce.js';
import {shapeKernels} from './shape.js';

/** All kernel configs, for registration and for the kernel tests. */
export const torchKernels = [...elementwiseKernels, ...reduceKernels, ...shapeKernels, ...convPoolKernels, ...normKernels];

let registered = false;

/** Registers the kernels once per process. */
export function registerTorchKernels(): void {
  if (registered) return;
  registered = true;
  for (const config of torchKernels) {
    if (tf.getKernel(config.kernelName, TORCH_BACKEND_NAME) === undefined) tf.registerKernel(config);
  }
}
