/**
 * The functional-model contract: parameters are one flat tensor, so trajectory matching can treat a network's weights
 * as a single vector (theta) and differentiate through updates of it.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** Name and shape of one parameter inside the flat vector, in order. */
export interface ParamSpec {
  readonly name: string;
  readonly shape: readonly number[];
}

/** A network whose weights live in a flat 1-D tensor. Images are NHWC. */
export interface FunctionalModel {
  readonly numParams: number;
  readonly params: readonly ParamSpec[];
  /** Fresh parameters (PyTorch-default initialisation), deterministic in `seed`. */
  init(seed: number): tf.Tensor1D;
  /** Logits [N, classes]. Differentiable with respect to both `flat` and `x`, at second order. */
  forward(flat: tf.Tensor1D, x: tf.Tensor4D): tf.Tensor2D;
}
