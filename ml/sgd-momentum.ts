/**
 * SGD with momentum in PyTorch's convention (dampening 0, no Nesterov, no weight decay): the first step sets the
 * buffer to the gradient, later steps b = m * b + g, and the parameter moves by -lr * b. MTT's outer loop uses one
 * of these for the synthetic pixels and one for the learnable student learning rate (momentum 0.5 each).
 */
import * as tf from '@tensorflow/tfjs-core';

/** One optimiser state for one tensor. Owns its momentum buffer; call {@link MomentumSgd.dispose} when done. */
export class MomentumSgd {
  readonly #lr: number;
  readonly #momentum: number;
  #buffer: tf.Tensor | undefined;

  /** `lr` > 0, `momentum` in [0, 1). */
  constructor(lr: number, momentum: number) {
    this.#lr = lr;
    this.#momentum = momentum;
  }

  /**
   * Returns the updated parameter as a new tensor. Neither `param` nor `grad` is disposed (the caller owns them);
   * the previous momentum buffer is.
   */
  step<T extends tf.Tensor>(param: T, grad: tf.Tensor): T {
    const previous = this.#buffer;
    const buffer =
      previous === undefined ? tf.clone(grad) : tf.tidy(() => tf.add(tf.mul(previous, this.#momentum), grad));
    previous?.dispose();
    this.#buffer = buffer;
    return tf.tidy(() => tf.sub(param, tf.mul(buffer, this.#lr))) as T;
  }

  /** Frees the momentum buffer. */
  dispose(): void {
    this.#buffer?.dispose();
    this.#buffer = undefined;
  }
}
