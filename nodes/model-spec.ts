/**
 * Architectures as plain JSON, so a `Model` or `Trajectories` artifact carries what it takes to rebuild the network
 * that its flat parameters belong to (a downstream node never has to be told the width twice).
 *
 * This module loads no TensorFlow.js (the node definitions use it); building a spec's network is build-arch.ts.
 */
import type {JsonObject} from './api.js';

/** A ConvNet (ConvNetD3 family). */
export interface ConvNetSpec {
  readonly kind: 'convnet';
  readonly width: number;
  readonly depth: number;
  readonly norm: 'instance' | 'batch' | 'none';
  readonly channels: number;
  readonly imageSize: number;
  readonly classes: number;
}

/** A CIFAR-stem ResNet-18 or ResNet-50. */
export interface ResNetSpec {
  readonly kind: 'resnet';
  readonly depth: 18 | 50;
  readonly widthMultiplier: number;
  readonly norm: 'batch' | 'group' | 'instance';
  readonly channels: number;
  readonly classes: number;
}

/** Any architecture a built-in node can build. */
export type ArchSpec = ConvNetSpec | ResNetSpec;

/** A one-line name, e.g. `ConvNet-128 (depth 3, instance)` or `ResNet-50 x0.5 (batch)`. */
export function describeArch(spec: ArchSpec): string {
  switch (spec.kind) {
    case 'convnet':
      return `ConvNet-${spec.width} (depth ${spec.depth}, ${spec.norm} norm)`;
    case 'resnet':
      return `ResNet-${spec.depth}${spec.widthMultiplier === 1 ? '' : ` x${spec.widthMultiplier}`} (${spec.norm} norm)`;
    default: {
      const never: never = spec;
      throw new Error(`Internal error: unknown architecture ${JSON.stringify(never)}`);
    }
  }
}

/** Parses a spec written by {@link ArchSpec} into JSON; throws with the artifact's name when it is not one. */
export function parseArch(text: string | undefined, where: string): ArchSpec {
  let value: unknown;
  try {
    value = text === undefined ? undefined : JSON.parse(text);
  } catch {
    value = undefined;
  }
  const kind = (value as {kind?: unknown} | undefined)?.kind;
  if (kind === 'convnet' || kind === 'resnet') return value as ArchSpec;
  throw new Error(`${where}: no architecture in its metadata (was it written by a distillery node?)`);
}

/** The JSON Schema properties of a ConvNet's size, shared by every node that builds one. */
export const CONVNET_PARAMS: JsonObject = {
  width: {type: 'integer', minimum: 1, default: 128, description: 'Channels of every conv layer (net_width).'},
  depth: {type: 'integer', minimum: 1, maximum: 5, default: 3, description: 'Conv blocks (net_depth).'},
  norm: {
    enum: ['instance', 'batch', 'none'],
    default: 'instance',
    description: "'instance' is GroupNorm with one group per channel (the reference default).",
  },
};

/** The ConvNet spec for images of a data set's shape. */
export function convNetFor(
  params: {readonly width: number; readonly depth: number; readonly norm: ConvNetSpec['norm']},
  data: {readonly channels: number; readonly height: number; readonly classes: number},
): ConvNetSpec {
  return {
    kind: 'convnet',
    width: params.width,
    depth: params.depth,
    norm: params.norm,
    channels: data.channels,
    imageSize: data.height,
    classes: data.classes,
  };
}
