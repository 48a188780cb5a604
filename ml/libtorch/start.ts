/**
 * Starting the libtorch backend in this process: load the addon, register the backend and its kernels, and set the
 * thread count and device.
 */
import * as tf from '@tensorflow/tfjs-core';
import {registerTorchKernels} from './kernels/index.js';
import {loadTorchBinding, type TorchBinding} from './native-binding.js';
import {TORCH_BACKEND_NAME, TorchBackend} from './torch-backend.js';

/** What `startTorch` set up. */
export interface TorchStart {
  readonly native: TorchBinding;
  readonly threads: number;
  /** 'cpu' or 'cuda:0'. */
  readonly device: string;
}

/**
 * Registers the libtorch backend (once) with `threads` intra-op threads. A CUDA libtorch runs on the first visible
 * GPU when the worker was given one (CUDA_VISIBLE_DEVICES names a device), else on the CPU.
 * Throws a message when the addon cannot load.
 */
export function startTorch(threads: number, env: NodeJS.ProcessEnv): TorchStart {
  const native = loadTorchBinding();
  native.setThreads(threads);
  const visible = env['CUDA_VISIBLE_DEVICES']?.trim();
  const wantsGpu = native.cudaAvailable && visible !== undefined && visible !== '' && visible !== '-1';
  native.setDevice(wantsGpu ? 'cuda' : 'cpu', 0);
  if (tf.findBackend(TORCH_BACKEND_NAME) === null) {
    tf.registerBackend(TORCH_BACKEND_NAME, () => new TorchBackend(native), 3);
  }
  registerTorchKernels();
  return {native, threads: native.getThreads(), device: wantsGpu ? 'cuda:0' : 'cpu'};
}
