/**
 * Building blocks shared by the flat-parameter networks (ConvNet, ResNet): convolution, normalisation, linear layers,
 * a cursor that hands out the unflattened parameters in declaration order, and a factory that turns an architecture
 * description into a {@link StatefulModel}.
 *
 * Only ops whose gradients are right at second order (with the registry fixes) are used: conv2d, pad, moments-style
 * mean/variance, rsqrt, relu, avgPool, matMul, reshape/transpose.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {ParamSpec} from './model.js';
import {constantDef, initFlat, sizeOf, unflatten, type ParamDef} from './init.js';
import type {StatefulModel, TrainForward} from './stateful-model.js';

/**
 * Normalisation after each convolution.
 * - `instance`: GroupNorm with one group per channel (the ConvNet "instancenorm" of the reference code), affine.
 * - `group`: GroupNorm with `groups` groups, affine.
 * - `batch`: BatchNorm2d, affine, with running statistics kept as buffers.
 * - `none`: identity.
 */
export type NormKind = 'instance' | 'group' | 'batch' | 'none';

/** Norm settings; eps and momentum follow PyTorch's defaults. */
export interface NormSettings {
  readonly kind: NormKind;
  /** Groups for `group` norm. */
  readonly groups: number;
  readonly eps: number;
  /** Running-statistics momentum (PyTorch convention: new = (1 - m) * old + m * batch). */
  readonly momentum: number;
}

/** PyTorch defaults: eps 1e-5, momentum 0.1. */
export const DEFAULT_NORM: NormSettings = {kind: 'instance', groups: 32, eps: 1e-5, momentum: 0.1};

/** The affine parameters of a norm layer (weight 1, bias 0), none for `none`. */
export function normParamDefs(prefix: string, channels: number, norm: NormSettings): ParamDef[] {
  if (norm.kind === 'none') return [];
  if (norm.kind === 'group' && channels % norm.groups !== 0) {
    throw new Error(`${prefix}: ${channels} channels are not divisible into ${norm.groups} groups`);
  }
  return [constantDef(`${prefix}.weight`, channels, 1), constantDef(`${prefix}.bias`, channels, 0)];
}

/** The running statistics of a batch-norm layer (mean 0, variance 1); none for the other kinds. */
export function normBufferDefs(prefix: string, channels: number, norm: NormSettings): ParamDef[] {
  if (norm.kind !== 'batch') return [];
  return [constantDef(`${prefix}.running_mean`, channels, 0), constantDef(`${prefix}.running_var`, channels, 1)];
}

/** Hands out tensors in order and checks each against the name the architecture expects. */
export class Cursor {
  readonly #tensors: readonly tf.Tensor[];
  readonly #specs: readonly ParamSpec[];
  #next = 0;

  constructor(tensors: readonly tf.Tensor[], specs: readonly ParamSpec[]) {
    this.#tensors = tensors;
    this.#specs = specs;
  }

  /** The next tensor, which must be the one named `name` (a mismatch is a bug in the architecture code). */
  take(name: string): tf.Tensor {
    const i = this.#next++;
    const spec = this.#specs[i];
    const t = this.#tensors[i];
    if (spec === undefined || t === undefined || spec.name !== name) {
      throw new Error(`Internal error: parameter ${i} is ${spec?.name ?? '(none)'}, the forward pass asked for ${name}`);
    }
    return t;
  }

  /** Throws unless every tensor was consumed. */
  done(): void {
    if (this.#next !== this.#specs.length) {
      throw new Error(`Internal error: the forward pass used ${this.#next} of ${this.#specs.length} tensors`);
    }
  }
}

/** The state a forward pass threads through the layers. */
export interface ForwardContext {
  readonly params: Cursor;
  /** `train`: batch statistics; `eval`: running statistics. */
  readonly mode: 'train' | 'eval';
  /** Running statistics; absent for a plain `forward`, where batch norm uses batch statistics and updates nothing. */
  readonly buffers?: Cursor;
  /** Updated running statistics, appended in buffer order during a training forward that has buffers. */
  readonly newBuffers: tf.Tensor[];
}

/**
 * 2-D convolution with PyTorch padding semantics: `pad` zeros on every side, then a 'valid' convolution. (tfjs' 'same'
 * with stride 2 pads only at the bottom/right, which would shift the sampling grid relative to PyTorch.)
 * Stride-1 pad-1 3x3 uses 'same', which is identical and avoids a copy.
 */
export function conv(
  ctx: ForwardContext,
  x: tf.Tensor4D,
  name: string,
  opts: {
    readonly k: number;
    readonly stride: number;
    readonly pad: number;
    readonly bias: boolean;
    /**
     * The next layer subtracts each channel's mean per image (instance norm), which removes any per-channel constant:
     * the bias parameter exists (PyTorch's layout) but adding it would change nothing except rounding, and its
     * gradient is exactly zero. Skipping it saves a full-size add and, in the backward pass, a full-size sum.
     */
    readonly biasCancelled?: boolean;
  },
): tf.Tensor4D {
  const w = ctx.params.take(`${name}.weight`) as tf.Tensor4D;
  let y: tf.Tensor4D;
  if (opts.stride === 1 && opts.k === 2 * opts.pad + 1) {
    y = tf.conv2d(x, w, 1, 'same');
  } else {
    const padded =
      opts.pad > 0
        ? tf.pad(x, [
            [0, 0],
            [opts.pad, opts.pad],
            [opts.pad, opts.pad],
            [0, 0],
          ])
        : x;
    y = tf.conv2d(padded, w, opts.stride, 'valid');
  }
  if (opts.bias) {
    const bias = ctx.params.take(`${name}.bias`);
    if (opts.biasCancelled !== true) y = tf.add(y, bias);
  }
  return y;
}

/** The parameters of {@link conv}. */
export function convDefs(name: string, k: number, cin: number, cout: number, bias: boolean): ParamDef[] {
  const fanIn = k * k * cin;
  const bound = 1 / Math.sqrt(fanIn);
  const defs: ParamDef[] = [{name: `${name}.weight`, shape: [k, k, cin, cout], init: {kind: 'uniform', bound}}];
  if (bias) defs.push({name: `${name}.bias`, shape: [cout], init: {kind: 'uniform', bound}});
  return defs;
}

function meanVar(x: tf.Tensor, axes: number[]): {mean: tf.Tensor; variance: tf.Tensor} {
  // Biased variance, as PyTorch normalises with; written with mean/square so every op is right at second order.
  const mean = tf.mean(x, axes, true);
  const variance = tf.mean(tf.square(tf.sub(x, mean)), axes, true);
  return {mean, variance};
}

/** Applies the norm layer `name` to NHWC `x`. */
export function norm(ctx: ForwardContext, x: tf.Tensor4D, name: string, settings: NormSettings): tf.Tensor4D {
  const kind = settings.kind;
  if (kind === 'none') return x;
  const [n, h, w, c] = x.shape;
  const gamma = ctx.params.take(`${name}.weight`);
  const beta = ctx.params.take(`${name}.bias`);
  let normalised: tf.Tensor4D;
  switch (kind) {
    case 'instance': {
      // x - mean is formed once and shared by the variance and the output (one full-size op fewer each way).
      const centered = tf.sub(x, tf.mean(x, [1, 2], true));
      const variance = tf.mean(tf.square(centered), [1, 2], true);
      normalised = tf.mul(centered, tf.rsqrt(tf.add(variance, settings.eps)));
      break;
    }
    case 'group': {
      const g = settings.groups;
      const grouped = tf.reshape(x, [n, h, w, g, c / g]);
      const {mean, variance} = meanVar(grouped, [1, 2, 4]);
      normalised = tf.reshape(tf.mul(tf.sub(grouped, mean), tf.rsqrt(tf.add(variance, settings.eps))), [n, h, w, c]);
      break;
    }
    case 'batch': {
      const runMean = ctx.buffers?.take(`${name}.running_mean`);
      const runVar = ctx.buffers?.take(`${name}.running_var`);
      if (ctx.mode === 'eval') {
        if (runMean === undefined || runVar === undefined) throw new Error(`${name}: eval mode needs running statistics`);
        normalised = tf.mul(tf.sub(x, runMean), tf.rsqrt(tf.add(runVar, settings.eps)));
      } else {
        const {mean, variance} = meanVar(x, [0, 1, 2]);
        normalised = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, settings.eps)));
        if (runMean !== undefined && runVar !== undefined) {
          // PyTorch updates the running variance with the unbiased batch variance.
          const count = n * h * w;
          const unbiased = tf.mul(tf.reshape(variance, [c]), count / Math.max(count - 1, 1));
          const m = settings.momentum;
          ctx.newBuffers.push(
            tf.add(tf.mul(runMean, 1 - m), tf.mul(tf.reshape(mean, [c]), m)),
            tf.add(tf.mul(runVar, 1 - m), tf.mul(unbiased, m)),
          );
        }
      }
      break;
    }
    default: {
      const never: never = kind;
      throw new Error(`norm: unknown kind ${String(never)}`);
    }
  }
  return tf.add(tf.mul(normalised, gamma), beta);
}

/** Linear layer on [N, F] features; the weight is stored [in, out]. */
export function linear(ctx: ForwardContext, x: tf.Tensor2D, name: string): tf.Tensor2D {
  const w = ctx.params.take(`${name}.weight`) as tf.Tensor2D;
  const b = ctx.params.take(`${name}.bias`);
  return tf.add(tf.matMul(x, w), b);
}

/** The parameters of {@link linear}: weight [fin, fout] and bias, PyTorch-default init. */
export function linearDefs(name: string, fin: number, fout: number): ParamDef[] {
  const bound = 1 / Math.sqrt(fin);
  return [
    {name: `${name}.weight`, shape: [fin, fout], init: {kind: 'uniform', bound}},
    {name: `${name}.bias`, shape: [fout], init: {kind: 'uniform', bound}},
  ];
}

/** What an architecture supplies to {@link buildModel}. */
export interface Architecture {
  readonly params: readonly ParamDef[];
  readonly buffers: readonly ParamDef[];
  /** The network body: consumes parameters (and buffers) through `ctx` in declaration order, returns logits. */
  body(ctx: ForwardContext, x: tf.Tensor4D): tf.Tensor2D;
}

/** Turns an {@link Architecture} into a {@link StatefulModel} over flat parameter and buffer vectors. */
export function buildModel(arch: Architecture): StatefulModel {
  const params = arch.params;
  const buffers = arch.buffers;
  const numParams = params.reduce((a, p) => a + sizeOf(p.shape), 0);
  const numBuffers = buffers.reduce((a, p) => a + sizeOf(p.shape), 0);
  const run = (flat: tf.Tensor1D, x: tf.Tensor4D, mode: 'train' | 'eval', buf?: tf.Tensor1D) => {
    const ctx: ForwardContext = {
      params: new Cursor(unflatten(flat, params), params),
      mode,
      ...(buf !== undefined && numBuffers > 0 ? {buffers: new Cursor(unflatten(buf, buffers), buffers)} : {}),
      newBuffers: [],
    };
    const logits = arch.body(ctx, x);
    ctx.params.done();
    ctx.buffers?.done();
    return {logits, newBuffers: ctx.newBuffers};
  };
  return {
    numParams,
    params,
    buffers,
    numBuffers,
    init: (seed) => initFlat(params, seed),
    initBuffers: () => initFlat(buffers, 0),
    forward: (flat, x) => tf.tidy(() => run(flat, x, 'train').logits),
    forwardTrain: (flat, buf, x): TrainForward =>
      tf.tidy(() => {
        const {logits, newBuffers} = run(flat, x, 'train', buf);
        const next = numBuffers === 0 ? tf.clone(buf) : (tf.concat(newBuffers.map((t) => tf.reshape(t, [-1]))) as tf.Tensor1D);
        return {logits, buffers: next};
      }),
    forwardEval: (flat, buf, x) => tf.tidy(() => run(flat, x, 'eval', buf).logits),
  };
}
