/** The shape of a libtorch kernel definition: a tfjs KernelConfig whose function gets the backend typed. */
import type {KernelConfig, NamedAttrMap, NamedTensorInfoMap, TensorInfo} from '@tensorflow/tfjs-core';
import {TORCH_BACKEND_NAME, type TorchBackend} from '../torch-backend.js';

/** What a kernel body receives. */
export interface KernelArgs {
  readonly backend: TorchBackend;
  readonly inputs: NamedTensorInfoMap;
  readonly attrs: NamedAttrMap;
}

/**
 * A kernel config for the libtorch backend. The addon names its own function in errors ("libtorch conv2d failed on
 * cpu (inputs: ...): ..."); the message is rewritten to name the tfjs kernel instead, which is what a user can find.
 */
export function kernel(kernelName: string, body: (args: KernelArgs) => TensorInfo | TensorInfo[]): KernelConfig {
  return {
    kernelName,
    backendName: TORCH_BACKEND_NAME,
    kernelFunc: ({inputs, attrs, backend}) => {
      try {
        return body({inputs, attrs: attrs ?? {}, backend: backend as TorchBackend});
      } catch (e) {
        if (e instanceof Error && e.message.startsWith('libtorch ')) {
          e.message = e.message.replace(/^libtorch (kernel )?\S+ /, `libtorch kernel ${kernelName} `);
        }
        throw e;
      }
    },
  };
}

/** The named input, or an internal error naming the kernel and the input. */
export function input(inputs: NamedTensorInfoMap, name: string, kernelName: string): TensorInfo {
  const t = inputs[name];
  if (t === undefined) throw new Error(`Internal error: kernel ${kernelName} got no input '${name}'`);
  return t;
}

/** The inputs of a kernel that takes a list (Concat, Pack, AddN): tfjs passes the array itself as the input map. */
export function inputList(inputs: NamedTensorInfoMap): TensorInfo[] {
  return Object.values(inputs).filter((t): t is TensorInfo => t !== undefined);
}

/** A numeric attribute, or an internal error. */
export function numberAttr(attrs: NamedAttrMap, name: string): number {
  const v = attrs[name];
  if (typeof v !== 'number') throw new Error(`Internal error: attribute '${name}' is ${JSON.stringify(v)}, not a number`);
  return v;
}

/** A number-array attribute; a single number counts as a one-element array. */
export function numbersAttr(attrs: NamedAttrMap, name: string): number[] {
  const v = attrs[name];
  if (typeof v === 'number') return [v];
  if (!Array.isArray(v)) throw new Error(`Internal error: attribute '${name}' is ${JSON.stringify(v)}, not a number array`);
  return v as number[];
}
