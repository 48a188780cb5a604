/**
 * PyTorch-default parameter initialisation for flat-parameter models.
 *
 * torch.nn.Conv2d / Linear reset their weight with kaiming_uniform_(a = sqrt(5)), whose bound works out to
 * 1 / sqrt(fan_in), and their bias with U(-1/sqrt(fan_in), 1/sqrt(fan_in)); norm layers start at weight 1, bias 0.
 * Experts and evaluation nets must start from that distribution (tfjs' glorotUniform differs), so models describe each
 * parameter with an {@link InitRule} and {@link initFlat} fills one Float32Array from a seeded {@link Rng}.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {ParamSpec} from './model.js';
import {createRng} from './rng.js';

/** How one parameter tensor is initialised. */
export type InitRule =
  | {readonly kind: 'uniform'; readonly bound: number}
  | {readonly kind: 'constant'; readonly value: number};

/** A parameter with its initialisation rule. */
export interface ParamDef extends ParamSpec {
  readonly init: InitRule;
}

/** Number of elements of a shape. */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The PyTorch default bound for a conv/linear layer with `fanIn` inputs per output unit. */
export function pytorchBound(fanIn: number): number {
  return 1 / Math.sqrt(fanIn);
}

/** Conv weight in HWIO layout, PyTorch-default init (fan_in = kh * kw * in). */
export function convWeight(name: string, k: number, cin: number, cout: number): ParamDef {
  return {name, shape: [k, k, cin, cout], init: {kind: 'uniform', bound: pytorchBound(k * k * cin)}};
}

/** Conv or linear bias, PyTorch-default init. */
export function biasDef(name: string, size: number, fanIn: number): ParamDef {
  return {name, shape: [size], init: {kind: 'uniform', bound: pytorchBound(fanIn)}};
}

/** Linear weight stored as [in, out] (so the forward pass is x @ W), PyTorch-default init. */
export function linearWeight(name: string, fin: number, fout: number): ParamDef {
  return {name, shape: [fin, fout], init: {kind: 'uniform', bound: pytorchBound(fin)}};
}

/** A constant-initialised parameter (norm scale 1 / shift 0). */
export function constantDef(name: string, size: number, value: number): ParamDef {
  return {name, shape: [size], init: {kind: 'constant', value}};
}

/**
 * Fills one flat Float32Array for `defs` in order. Uniform draws come from one stream seeded by `seed`, parameter after
 * parameter, so the same seed and architecture always give the same vector on any backend.
 */
export function initFlatArray(defs: readonly ParamDef[], seed: number): Float32Array {
  const rng = createRng(seed);
  const out = new Float32Array(defs.reduce((n, d) => n + sizeOf(d.shape), 0));
  let offset = 0;
  for (const def of defs) {
    const n = sizeOf(def.shape);
    const rule = def.init;
    switch (rule.kind) {
      case 'uniform':
        for (let i = 0; i < n; i++) out[offset + i] = (rng.uniform() * 2 - 1) * rule.bound;
        break;
      case 'constant':
        out.fill(rule.value, offset, offset + n);
        break;
      default: {
        const never: never = rule;
        throw new Error(`init: unknown rule ${JSON.stringify(never)}`);
      }
    }
    offset += n;
  }
  return out;
}

/** {@link initFlatArray} as a tensor. */
export function initFlat(defs: readonly ParamDef[], seed: number): tf.Tensor1D {
  return tf.tensor1d(initFlatArray(defs, seed), 'float32');
}

/**
 * Splits a flat vector into one tensor per spec (reshaped), in order. The pieces stay on the autodiff tape, so gradients
 * with respect to `flat` flow through them (slice's gradient is a pad, which is itself differentiable).
 */
export function unflatten(flat: tf.Tensor1D, specs: readonly ParamSpec[]): tf.Tensor[] {
  const total = specs.reduce((n, s) => n + sizeOf(s.shape), 0);
  if (flat.size !== total) throw new Error(`unflatten: flat vector has ${flat.size} elements, the specs need ${total}`);
  const out: tf.Tensor[] = [];
  let offset = 0;
  for (const spec of specs) {
    const n = sizeOf(spec.shape);
    out.push(tf.reshape(tf.slice(flat, [offset], [n]), [...spec.shape]));
    offset += n;
  }
  return out;
}

/** The inverse of {@link unflatten}: concatenates the tensors (row-major) into one flat vector. */
export function flatten(tensors: readonly tf.Tensor[]): tf.Tensor1D {
  return tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))) as tf.Tensor1D);
}
