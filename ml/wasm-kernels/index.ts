/**
 * Training kernels registered for the wasm backend: the missing `Conv2DBackpropFilter` and faster replacements of
 * slow built-in paths. Installed once by ml/backend.ts after the wasm backend is active.
 */
import * as tf from '@tensorflow/tfjs';
import {conv2DBackpropFilterWasmConfig} from './conv2d-backprop-filter.js';
import {conv2DBackpropInputWasmConfig} from './conv2d-backprop-input.js';
import {unsortedSegmentSumWasmConfig} from './unsorted-segment-sum.js';

let installed = false;

/** Registers (or replaces) the wasm training kernels. Idempotent. */
export function installWasmKernels(): void {
  if (installed) return;
  installed = true;
  tf.registerKernel(conv2DBackpropFilterWasmConfig);
  if (tf.getKernel('UnsortedSegmentSum', 'wasm') === undefined) tf.registerKernel(unsortedSegmentSumWasmConfig);
  const original = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (original !== undefined) {
    // Unregister first: registerKernel warns (through console) when a kernel is already registered.
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel(conv2DBackpropInputWasmConfig(original.kernelFunc));
  }
}
