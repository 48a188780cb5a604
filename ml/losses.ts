/**
 * Classification and distillation losses, written only with ops whose gradients are right at second order (they run
 * inside the unrolled inner loop of trajectory matching): the log-softmax of ml/ops.ts is built from a max-shift that
 * carries no gradient, then exp / sum / log (the Exp gradient needs the registry fix in ml/grad-fixes.ts at second
 * order).
 *
 * All reductions are means over the batch: cross-entropy averages -log p(label) over samples; the KD term is
 * KL-divergence summed over classes and averaged over samples ("batchmean"), NOT averaged over samples x classes,
 * which would make it C times smaller (a known pitfall of some PyTorch KD code).
 */
import * as tf from '@tensorflow/tfjs-core';
import {logSoftmax, stopGradient} from './ops.js';

// The softmax family lives in ml/ops.ts (one second-order-correct implementation for the whole code base); it is
// re-exported here because losses are where callers look for it.
export {logSoftmax, softmax, stopGradient} from './ops.js';

/** Mean over the batch of -log softmax(logits)[label]. `labels` are int32 class indices [B]. */
export function crossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  return tf.tidy(() => {
    const [b, c] = logits.shape;
    const onehot = tf.oneHot(tf.cast(labels, 'int32'), c);
    return tf.div(tf.neg(tf.sum(tf.mul(onehot, logSoftmax(logits)))), b) as tf.Scalar;
  });
}

/** Mean over the batch of -sum_c p_c log softmax(logits)_c, for soft targets `targets` [B, C] (rows sum to 1). */
export function softCrossEntropy(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => tf.div(tf.neg(tf.sum(tf.mul(targets, logSoftmax(logits)))), logits.shape[0]) as tf.Scalar);
}

/**
 * Hinton KD: T^2 * KL(softmax(teacher / T) || softmax(student / T)), summed over classes and averaged over the batch.
 * The teacher logits are treated as constants. Equals 0 when student == teacher.
 */
export function kdLoss(student: tf.Tensor2D, teacher: tf.Tensor2D, temperature: number): tf.Scalar {
  if (!(temperature > 0)) throw new Error(`kdLoss: temperature must be > 0, got ${temperature}`);
  return tf.tidy(() => {
    const logPt = logSoftmax(tf.div(stopGradient(teacher), temperature) as tf.Tensor2D);
    const pt = tf.exp(logPt);
    const logPs = logSoftmax(tf.div(student, temperature) as tf.Tensor2D);
    // p_t * (log p_t - log p_s), with log p_t from log-softmax so that p_t = 0 gives 0, never 0 * -inf.
    const kl = tf.sum(tf.mul(pt, tf.sub(logPt, logPs)));
    return tf.mul(tf.div(kl, student.shape[0]), temperature * temperature) as tf.Scalar;
  });
}

/** Weights of the combined distillation objective. */
export interface KdOptions {
  /** Weight of the KD term in [0, 1]; 0 gives plain cross-entropy exactly. */
  readonly alpha: number;
  /** Softmax temperature T > 0. */
  readonly temperature: number;
}

/**
 * (1 - alpha) * CE(student, labels) + alpha * kdLoss(student, teacher, T). With alpha = 0 this returns the
 * cross-entropy itself (the teacher is not touched), with alpha = 1 the KD term alone.
 */
export function distillationLoss(
  student: tf.Tensor2D,
  labels: tf.Tensor1D,
  teacher: tf.Tensor2D | undefined,
  options: KdOptions,
): tf.Scalar {
  const {alpha, temperature} = options;
  if (!(alpha >= 0 && alpha <= 1)) throw new Error(`distillationLoss: alpha must be in [0, 1], got ${alpha}`);
  if (alpha === 0) return crossEntropy(student, labels);
  if (teacher === undefined) throw new Error('distillationLoss: alpha > 0 needs teacher logits');
  if (alpha === 1) return kdLoss(student, teacher, temperature);
  return tf.tidy(
    () =>
      tf.add(
        tf.mul(crossEntropy(student, labels), 1 - alpha),
        tf.mul(kdLoss(student, teacher, temperature), alpha),
      ) as tf.Scalar,
  );
}
