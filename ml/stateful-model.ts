/**
 * Functional models that also carry non-trainable state (batch-norm running statistics).
 *
 * The state is a second flat vector, the *buffers*, kept outside the trainable flat parameters so that trajectory
 * matching and the optimiser only ever see trainable weights. A training forward returns the new buffers instead of
 * mutating anything; an evaluation forward reads them. Models without state have zero buffers and ignore them.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type {FunctionalModel, ParamSpec} from './model.js';

/** The result of a training-mode forward pass. */
export interface TrainForward {
  readonly logits: tf.Tensor2D;
  /** Updated running statistics (same layout as the input buffers); the input buffers when the model has none. */
  readonly buffers: tf.Tensor1D;
}

/**
 * A {@link FunctionalModel} with optional running state. Its plain `forward(flat, x)` is the training-mode computation
 * (batch statistics for batch norm) without any state update, which is what an unrolled inner loop wants.
 */
export interface StatefulModel extends FunctionalModel {
  /** Non-trainable buffers in order (e.g. `layer1.0.bn1.running_mean`); empty for models without state. */
  readonly buffers: readonly ParamSpec[];
  readonly numBuffers: number;
  /** Initial buffers (running mean 0, running variance 1), a fresh tensor (size 0 when there is no state). */
  initBuffers(): tf.Tensor1D;
  /** Training mode: batch statistics, and the running statistics advanced by one step (momentum 0.1). */
  forwardTrain(flat: tf.Tensor1D, buffers: tf.Tensor1D, x: tf.Tensor4D): TrainForward;
  /** Evaluation mode: running statistics are used for normalisation. */
  forwardEval(flat: tf.Tensor1D, buffers: tf.Tensor1D, x: tf.Tensor4D): tf.Tensor2D;
}

/** True when `model` implements the stateful extension. */
export function isStateful(model: FunctionalModel): model is StatefulModel {
  const m = model as Partial<StatefulModel>;
  return typeof m.forwardTrain === 'function' && typeof m.forwardEval === 'function' && typeof m.initBuffers === 'function';
}
