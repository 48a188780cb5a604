/**
 * Builds the network an {@link ArchSpec} describes. Kept apart from model-spec.ts because the networks import
 * TensorFlow.js: only the nodes' run files import this module.
 */
import {convNet} from '../ml/convnet.js';
import {resNet} from '../ml/resnet.js';
import type {StatefulModel} from '../ml/stateful-model.js';
import type {ArchSpec} from './model-spec.js';

/** Builds the functional model of `spec`. */
export function buildArch(spec: ArchSpec): StatefulModel {
  switch (spec.kind) {
    case 'convnet':
      return convNet({
        width: spec.width,
        depth: spec.depth,
        norm: spec.norm,
        channels: spec.channels,
        imageSize: spec.imageSize,
        classes: spec.classes,
      });
    case 'resnet':
      return resNet({
        depth: spec.depth,
        widthMultiplier: spec.widthMultiplier,
        norm: spec.norm,
        channels: spec.channels,
        classes: spec.classes,
      });
    default: {
      const never: never = spec;
      throw new Error(`Internal error: unknown architecture ${JSON.stringify(never)}`);
    }
  }
}
