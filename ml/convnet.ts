/**
 * ConvNet (ConvNetD3 of the dataset-distillation literature) as a flat-parameter functional model.
 *
 * Per block: 3x3 conv (bias) -> norm -> ReLU -> 2x2 average pool; then a linear head on the features flattened in NCHW
 * order (index c * h * w + y * w + x), exactly as the PyTorch reference flattens them, so per-tensor permutations are
 * all it takes to import PyTorch weights. The first conv pads by 3 instead of 1 for 28x28 single-channel images
 * (MNIST, Fashion-MNIST), which turns them into 32x32 feature maps, as the reference does.
 *
 * Parameter order: conv0.weight [3,3,in,width] (HWIO), conv0.bias, norm0.weight, norm0.bias, conv1..., fc.weight
 * [features, classes], fc.bias. CIFAR-10 (width 128, depth 3, 32x32x3): 320,010 parameters; Fashion-MNIST: 317,706.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {ParamDef} from './init.js';
import {
  DEFAULT_NORM,
  buildModel,
  conv,
  convDefs,
  linear,
  linearDefs,
  norm,
  normBufferDefs,
  normParamDefs,
  type ForwardContext,
  type NormSettings,
} from './layers.js';
import type {StatefulModel} from './stateful-model.js';

/** ConvNet hyperparameters. */
export interface ConvNetConfig {
  /** Channels of every conv (net_width). Default 128. */
  readonly width?: number;
  /** Number of conv blocks (net_depth). Default 3. */
  readonly depth?: number;
  /** Default 'instance' (GroupNorm with one group per channel, affine, eps 1e-5). 'batch' keeps running stats. */
  readonly norm?: 'instance' | 'batch' | 'none';
  /** Only average pooling is implemented (the reference default). */
  readonly pooling?: 'avg';
  /** Input channels (3 for CIFAR, 1 for Fashion-MNIST). */
  readonly channels: number;
  /** Input height = width. */
  readonly imageSize: number;
  readonly classes: number;
}

/** The resolved configuration of a ConvNet. */
export type ResolvedConvNetConfig = Required<ConvNetConfig>;

/** A ConvNet model: the functional model plus its resolved configuration. */
export interface ConvNet extends StatefulModel {
  readonly config: ResolvedConvNetConfig;
}

/** First-conv padding: 3 for 28x28 single-channel inputs (28 + 6 - 2 = 32), else 1. */
export function firstPadding(channels: number, imageSize: number): number {
  return channels === 1 && imageSize === 28 ? 3 : 1;
}

/** Builds a ConvNet. Throws for a configuration whose feature map would vanish. */
export function convNet(config: ConvNetConfig): ConvNet {
  const cfg: ResolvedConvNetConfig = {
    width: config.width ?? 128,
    depth: config.depth ?? 3,
    norm: config.norm ?? 'instance',
    pooling: config.pooling ?? 'avg',
    channels: config.channels,
    imageSize: config.imageSize,
    classes: config.classes,
  };
  const settings: NormSettings = {...DEFAULT_NORM, kind: cfg.norm};
  const params: ParamDef[] = [];
  const buffers: ParamDef[] = [];
  const pads: number[] = [];
  let size = cfg.imageSize;
  let cin = cfg.channels;
  for (let d = 0; d < cfg.depth; d++) {
    const pad = d === 0 ? firstPadding(cfg.channels, cfg.imageSize) : 1;
    pads.push(pad);
    params.push(...convDefs(`conv${d}`, 3, cin, cfg.width, true));
    params.push(...normParamDefs(`norm${d}`, cfg.width, settings));
    buffers.push(...normBufferDefs(`norm${d}`, cfg.width, settings));
    size = Math.floor((size + 2 * pad - 2) / 2);
    cin = cfg.width;
  }
  if (size < 1) throw new Error(`convNet: a ${cfg.imageSize}px image has no pixels left after ${cfg.depth} blocks`);
  const features = cfg.width * size * size;
  params.push(...linearDefs('fc', features, cfg.classes));

  const body = (ctx: ForwardContext, input: tf.Tensor4D): tf.Tensor2D => {
    let x = input;
    for (let d = 0; d < cfg.depth; d++) {
      x = conv(ctx, x, `conv${d}`, {k: 3, stride: 1, pad: pads[d] ?? 1, bias: true, biasCancelled: cfg.norm === 'instance'});
      x = norm(ctx, x, `norm${d}`, settings);
      x = tf.relu(x);
      x = tf.avgPool(x, 2, 2, 'valid');
    }
    const [n, h, w, c] = x.shape;
    // NCHW flattening, as the reference's Linear head expects.
    const flat = tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [n, c * h * w]) as tf.Tensor2D;
    return linear(ctx, flat, 'fc');
  };
  return {...buildModel({params, buffers, body}), config: cfg};
}
