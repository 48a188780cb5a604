/**
 * The built-in networks' parameters as a PyTorch state dict, and back: names of the reference PyTorch definitions
 * (docs/torch_models.py) and PyTorch's tensor layouts.
 *
 * Layouts. The flat vectors hold conv weights as HWIO [kh, kw, in, out] and linear weights as [in, out] (what tfjs'
 * conv2d and matMul take); PyTorch's `nn.Conv2d` holds OIHW [out, in, kh, kw] and `nn.Linear` [out, in]. Biases, norm
 * affines and running statistics are 1-D in both. The ConvNet's head reads its features flattened in NCHW order
 * (ml/convnet.ts), as `torch.flatten` does, so a transpose per tensor is the whole conversion.
 *
 * Names.
 * - ConvNet (the ConvNet of the dataset-distillation reference code): `features` is an `nn.Sequential` of, per block,
 *   conv, norm, ReLU, 2x2 average pool (no norm module for `norm: none`), and `classifier` the linear head. So
 *   `conv{d}.*` is `features.{4d}.*`, `norm{d}.*` is `features.{4d+1}.*` (3d without norm) and `fc.*` is
 *   `classifier.*`. Instance norm is `nn.GroupNorm(width, width)`; batch norm `nn.BatchNorm2d(width)` with its
 *   `running_mean` and `running_var`.
 * - ResNet (CIFAR stem, as ml/resnet.ts): the names are already PyTorch's: `conv1`, `bn1`, `layer{s}.{b}.conv1`...,
 *   `layer{s}.{b}.shortcut.0` / `.1`, `linear`.
 * BatchNorm's `num_batches_tracked` is not written (no count is kept here); `load_state_dict` accepts a dict without it.
 *
 * Loads no TensorFlow.js: the specs come from the architecture (`model.params`, `model.buffers`), the data is plain
 * Float32Arrays.
 */
import type {ParamSpec} from './model.js';

/** Which reference definition a network's PyTorch names follow. */
export type TorchNaming =
  | {readonly kind: 'convnet'; readonly norm: 'instance' | 'batch' | 'none'}
  | {readonly kind: 'resnet'};

/** A tensor of a state dict: its PyTorch shape and its float32 data in row-major order. */
export interface TorchTensor {
  readonly shape: readonly number[];
  readonly data: Float32Array;
}

/** The parameter and buffer specs of a network, in flat-vector order. */
export interface NetworkSpecs {
  readonly params: readonly ParamSpec[];
  readonly buffers: readonly ParamSpec[];
}

const CONVNET_LAYER = /^(conv|norm)(\d+)\.([a-z_]+)$/;

/** The PyTorch name of parameter or buffer `name` of a network named as `naming` says. */
export function torchName(naming: TorchNaming, name: string): string {
  switch (naming.kind) {
    case 'convnet': {
      if (name.startsWith('fc.')) return `classifier.${name.slice('fc.'.length)}`;
      const match = CONVNET_LAYER.exec(name);
      if (match === null) throw new Error(`Internal error: the ConvNet has no parameter like ${name}`);
      const perBlock = naming.norm === 'none' ? 3 : 4;
      return `features.${Number(match[2]) * perBlock + (match[1] === 'norm' ? 1 : 0)}.${match[3] ?? ''}`;
    }
    case 'resnet':
      return name;
    default: {
      const never: never = naming;
      throw new Error(`Internal error: unknown naming ${JSON.stringify(never)}`);
    }
  }
}

function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The PyTorch shape of a tensor of this project's `shape`: OIHW for HWIO, [out, in] for [in, out], 1-D as it is. */
export function torchShape(shape: readonly number[]): number[] {
  if (shape.length === 4) return [shape[3] ?? 0, shape[2] ?? 0, shape[0] ?? 0, shape[1] ?? 0];
  if (shape.length === 2) return [shape[1] ?? 0, shape[0] ?? 0];
  return [...shape];
}

/** `data` in this project's layout `shape` (HWIO, [in, out] or 1-D), in PyTorch's layout. */
export function toTorchLayout(shape: readonly number[], data: Float32Array): TorchTensor {
  if (shape.length === 4) {
    const [kh = 0, kw = 0, cin = 0, cout = 0] = shape;
    const out = new Float32Array(data.length);
    for (let h = 0; h < kh; h++) {
      for (let w = 0; w < kw; w++) {
        for (let i = 0; i < cin; i++) {
          for (let o = 0; o < cout; o++) out[((o * cin + i) * kh + h) * kw + w] = data[((h * kw + w) * cin + i) * cout + o] ?? 0;
        }
      }
    }
    return {shape: [cout, cin, kh, kw], data: out};
  }
  if (shape.length === 2) {
    const [fin = 0, fout = 0] = shape;
    const out = new Float32Array(data.length);
    for (let i = 0; i < fin; i++) for (let o = 0; o < fout; o++) out[o * fin + i] = data[i * fout + o] ?? 0;
    return {shape: [fout, fin], data: out};
  }
  return {shape: [...shape], data: Float32Array.from(data)};
}

/** A PyTorch-layout tensor back in this project's layout (the inverse of {@link toTorchLayout}). */
export function fromTorchLayout(torch: TorchTensor): TorchTensor {
  const {shape, data} = torch;
  if (shape.length === 4) {
    const [cout = 0, cin = 0, kh = 0, kw = 0] = shape;
    const out = new Float32Array(data.length);
    for (let o = 0; o < cout; o++) {
      for (let i = 0; i < cin; i++) {
        for (let h = 0; h < kh; h++) {
          for (let w = 0; w < kw; w++) out[((h * kw + w) * cin + i) * cout + o] = data[((o * cin + i) * kh + h) * kw + w] ?? 0;
        }
      }
    }
    return {shape: [kh, kw, cin, cout], data: out};
  }
  if (shape.length === 2) {
    const [fout = 0, fin = 0] = shape;
    const out = new Float32Array(data.length);
    for (let o = 0; o < fout; o++) for (let i = 0; i < fin; i++) out[i * fout + o] = data[o * fin + i] ?? 0;
    return {shape: [fin, fout], data: out};
  }
  return {shape: [...shape], data: Float32Array.from(data)};
}

function slices(specs: readonly ParamSpec[], flat: Float32Array, what: string): Float32Array[] {
  const total = specs.reduce((a, s) => a + sizeOf(s.shape), 0);
  if (flat.length !== total) throw new Error(`the ${what} hold ${flat.length} values; the network has ${total}`);
  let offset = 0;
  return specs.map((s) => {
    const part = flat.subarray(offset, offset + sizeOf(s.shape));
    offset += part.length;
    return part;
  });
}

/**
 * The state dict of one trained network: its flat parameters and buffers (batch-norm running statistics; empty when
 * it has none) under their PyTorch names, in PyTorch layout, in the network's order. Throws when the vectors do not
 * fit the specs.
 */
export function torchStateDict(naming: TorchNaming, specs: NetworkSpecs, params: Float32Array, buffers: Float32Array): Map<string, TorchTensor> {
  const out = new Map<string, TorchTensor>();
  for (const [list, flat, what] of [[specs.params, params, 'parameters'], [specs.buffers, buffers, 'buffers']] as const) {
    const parts = slices(list, flat, what);
    list.forEach((spec, i) => out.set(torchName(naming, spec.name), toTorchLayout(spec.shape, parts[i] ?? new Float32Array(0))));
  }
  return out;
}

/**
 * Flat parameters and buffers from a state dict in PyTorch names and layouts (the inverse of {@link torchStateDict}).
 * Every tensor must be there with its shape; extra tensors are ignored (e.g. `num_batches_tracked`).
 */
export function fromTorchStateDict(
  naming: TorchNaming,
  specs: NetworkSpecs,
  tensors: ReadonlyMap<string, TorchTensor>,
): {params: Float32Array; buffers: Float32Array} {
  const gather = (list: readonly ParamSpec[]): Float32Array => {
    const out = new Float32Array(list.reduce((a, s) => a + sizeOf(s.shape), 0));
    let offset = 0;
    for (const spec of list) {
      const name = torchName(naming, spec.name);
      const tensor = tensors.get(name);
      if (tensor === undefined) throw new Error(`the state dict has no tensor "${name}"`);
      const expected = torchShape(spec.shape);
      if (tensor.shape.join('x') !== expected.join('x') || tensor.data.length !== sizeOf(expected)) {
        throw new Error(`"${name}" has shape [${tensor.shape.join(', ')}]; the network needs [${expected.join(', ')}]`);
      }
      const ours = fromTorchLayout(tensor);
      out.set(ours.data, offset);
      offset += ours.data.length;
    }
    return out;
  };
  return {params: gather(specs.params), buffers: gather(specs.buffers)};
}
