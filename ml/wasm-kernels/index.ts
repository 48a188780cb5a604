/**
 * Training kernels registered for the wasm backend: the missing `Conv2DBackpropFilter` and `UnsortedSegmentSum`, and
 * faster replacements of slow built-in paths (`Conv2DBackpropInput` at stride 1, `AvgPoolGrad` 2x2/2, `Sum`/`Mean`
 * over non-innermost axes, copy-free `Identity` and same-dtype `Cast`), each falling back to the original kernel outside its fast case. Installed once by
 * ml/backend.ts after the wasm backend is active.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {KernelConfig, KernelFunc} from '@tensorflow/tfjs-core';
import {avgPoolGradWasmConfig} from './avg-pool-grad.js';
import {conv2DBackpropFilterWasmConfig} from './conv2d-backprop-filter.js';
import {conv2DBackpropInputWasmConfig} from './conv2d-backprop-input.js';
import {reduceMiddleConfigs} from './reduce-middle.js';
import {sharedIdentityConfigs} from './shared-identity.js';
import {unsortedSegmentSumWasmConfig} from './unsorted-segment-sum.js';

const BACKEND = 'wasm';

let installed = false;

function original(name: string): KernelFunc {
  const k = tf.getKernel(name, BACKEND);
  if (k === undefined) throw new Error(`Internal error: the wasm backend has no ${name} kernel`);
  return k.kernelFunc;
}

/** Replaces a registered kernel (registerKernel alone would warn through the console). */
function replace(config: KernelConfig): void {
  if (tf.getKernel(config.kernelName, BACKEND) !== undefined) tf.unregisterKernel(config.kernelName, BACKEND);
  tf.registerKernel(config);
}

/** Registers (or replaces) the wasm training kernels. Idempotent. */
export function installWasmKernels(): void {
  if (installed) return;
  installed = true;
  replace(conv2DBackpropFilterWasmConfig);
  if (tf.getKernel('UnsortedSegmentSum', BACKEND) === undefined) tf.registerKernel(unsortedSegmentSumWasmConfig);
  replace(conv2DBackpropInputWasmConfig(original('Conv2DBackpropInput')));
  replace(avgPoolGradWasmConfig(original('AvgPoolGrad')));
  for (const config of reduceMiddleConfigs(original('Sum'), original('Mean'))) replace(config);
  for (const config of sharedIdentityConfigs(original('Identity'), original('Cast'))) replace(config);
}
