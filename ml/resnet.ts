/**
 * ResNet-18 and ResNet-50 with the CIFAR stem, as flat-parameter functional models (the KD teacher).
 *
 * Stem: 3x3 stride-1 conv (no bias) -> norm -> ReLU, no max-pool. Stages of 64, 128, 256, 512 planes (times the width
 * multiplier) with strides 1, 2, 2, 2: basic blocks [2, 2, 2, 2] for ResNet-18, bottlenecks (expansion 4, stride on the
 * 3x3 conv as in torchvision v1.5) [3, 4, 6, 3] for ResNet-50. A projection shortcut (1x1 conv + norm) is used when the
 * stride or the channel count changes. Then global average pooling and a linear head.
 *
 * Batch norm keeps its running statistics as buffers outside the flat parameters (see {@link StatefulModel}); the
 * teacher is trained first-order only and used in evaluation mode during distillation.
 * Parameter counts (10 classes, w = 1, batch norm): ResNet-18 11,173,962; ResNet-50 23,520,842 (torchvision's counts
 * with the 7x7 stem and 1000-class head swapped for the 3x3 stem and a 10-class head).
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

/** ResNet hyperparameters. */
export interface ResNetConfig {
  readonly depth: 18 | 50;
  readonly channels: number;
  readonly classes: number;
  /** Default 'batch'. 'instance' is GroupNorm with one group per channel; 'group' uses `groups` groups. */
  readonly norm?: 'batch' | 'group' | 'instance';
  /** Groups for 'group' norm. Default 32, lowered to the channel count for narrow layers. */
  readonly groups?: number;
  /** Width multiplier: the stem has round(64 * widthMultiplier) channels. Default 1. */
  readonly widthMultiplier?: number;
}

/** The resolved configuration of a ResNet. */
export type ResolvedResNetConfig = Required<ResNetConfig>;

/** A ResNet model: the functional model plus its resolved configuration. */
export interface ResNet extends StatefulModel {
  readonly config: ResolvedResNetConfig;
}

interface Block {
  readonly prefix: string;
  readonly cin: number;
  readonly planes: number;
  readonly stride: number;
  readonly shortcut: boolean;
}

const STAGES: Readonly<Record<18 | 50, {blocks: readonly number[]; bottleneck: boolean}>> = {
  18: {blocks: [2, 2, 2, 2], bottleneck: false},
  50: {blocks: [3, 4, 6, 3], bottleneck: true},
};

/** Builds a ResNet-18 or ResNet-50. */
export function resNet(config: ResNetConfig): ResNet {
  const cfg: ResolvedResNetConfig = {
    depth: config.depth,
    channels: config.channels,
    classes: config.classes,
    norm: config.norm ?? 'batch',
    groups: config.groups ?? 32,
    widthMultiplier: config.widthMultiplier ?? 1,
  };
  const base = Math.max(1, Math.round(64 * cfg.widthMultiplier));
  const {blocks, bottleneck} = STAGES[cfg.depth];
  const expansion = bottleneck ? 4 : 1;
  // Group norm needs the group count to divide every layer's channels; narrow layers fall back to fewer groups.
  const settingsFor = (channels: number): NormSettings => ({
    ...DEFAULT_NORM,
    kind: cfg.norm,
    groups: cfg.norm === 'group' ? gcd(cfg.groups, channels) : channels,
  });
  const params: ParamDef[] = [];
  const buffers: ParamDef[] = [];
  const addNorm = (prefix: string, channels: number): void => {
    params.push(...normParamDefs(prefix, channels, settingsFor(channels)));
    buffers.push(...normBufferDefs(prefix, channels, settingsFor(channels)));
  };

  params.push(...convDefs('conv1', 3, cfg.channels, base, false));
  addNorm('bn1', base);
  const plan: Block[] = [];
  let cin = base;
  blocks.forEach((count, stage) => {
    const planes = base * 2 ** stage;
    for (let b = 0; b < count; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1;
      const prefix = `layer${stage + 1}.${b}`;
      const shortcut = stride !== 1 || cin !== planes * expansion;
      plan.push({prefix, cin, planes, stride, shortcut});
      if (bottleneck) {
        params.push(...convDefs(`${prefix}.conv1`, 1, cin, planes, false));
        addNorm(`${prefix}.bn1`, planes);
        params.push(...convDefs(`${prefix}.conv2`, 3, planes, planes, false));
        addNorm(`${prefix}.bn2`, planes);
        params.push(...convDefs(`${prefix}.conv3`, 1, planes, planes * expansion, false));
        addNorm(`${prefix}.bn3`, planes * expansion);
      } else {
        params.push(...convDefs(`${prefix}.conv1`, 3, cin, planes, false));
        addNorm(`${prefix}.bn1`, planes);
        params.push(...convDefs(`${prefix}.conv2`, 3, planes, planes, false));
        addNorm(`${prefix}.bn2`, planes);
      }
      if (shortcut) {
        params.push(...convDefs(`${prefix}.shortcut.0`, 1, cin, planes * expansion, false));
        addNorm(`${prefix}.shortcut.1`, planes * expansion);
      }
      cin = planes * expansion;
    }
  });
  params.push(...linearDefs('linear', cin, cfg.classes));

  const bn = (ctx: ForwardContext, x: tf.Tensor4D, name: string): tf.Tensor4D =>
    norm(ctx, x, name, settingsFor(x.shape[3]));
  const body = (ctx: ForwardContext, input: tf.Tensor4D): tf.Tensor2D => {
    let x = tf.relu(bn(ctx, conv(ctx, input, 'conv1', {k: 3, stride: 1, pad: 1, bias: false}), 'bn1'));
    for (const blk of plan) {
      const p = blk.prefix;
      let y: tf.Tensor4D;
      if (bottleneck) {
        y = tf.relu(bn(ctx, conv(ctx, x, `${p}.conv1`, {k: 1, stride: 1, pad: 0, bias: false}), `${p}.bn1`));
        y = tf.relu(bn(ctx, conv(ctx, y, `${p}.conv2`, {k: 3, stride: blk.stride, pad: 1, bias: false}), `${p}.bn2`));
        y = bn(ctx, conv(ctx, y, `${p}.conv3`, {k: 1, stride: 1, pad: 0, bias: false}), `${p}.bn3`);
      } else {
        y = tf.relu(bn(ctx, conv(ctx, x, `${p}.conv1`, {k: 3, stride: blk.stride, pad: 1, bias: false}), `${p}.bn1`));
        y = bn(ctx, conv(ctx, y, `${p}.conv2`, {k: 3, stride: 1, pad: 1, bias: false}), `${p}.bn2`);
      }
      const skip = blk.shortcut
        ? bn(ctx, conv(ctx, x, `${p}.shortcut.0`, {k: 1, stride: blk.stride, pad: 0, bias: false}), `${p}.shortcut.1`)
        : x;
      x = tf.relu(tf.add(y, skip)) as tf.Tensor4D;
    }
    const pooled = tf.mean(x, [1, 2]) as tf.Tensor2D;
    return linear(ctx, pooled, 'linear');
  };
  return {...buildModel({params, buffers, body}), config: cfg};
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}
