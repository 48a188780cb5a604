/**
 * Classification and distillation losses, written only with ops whose gradients are right at second order (they run
 * inside the unrolled inner loop of trajectory matching): the log-softmax is built from a max-shift that carries no
 * gradient, then exp / sum / log (the Exp gradient needs the registry fix in ml/grad-fixes.ts at second order).
 *
 * All reductions are means over the batch: cross-entropy averages -log p(label) over samples; the KD term is
 * KL-divergence summed over classes and averaged over samples ("batchmean"), NOT averaged over samples x classes,
 * which would make it C times smaller (a known pitfall of some PyTorch KD code).
 */
import * as tf from '@tensorflow/tfjs';

/**
 * The row-wise max of `x` (keepDims) as a constant: its gradient is zero. log-softmax is shift-invariant, so shifting
 * by a constant is exact, keeps exp from overflowing, and keeps max's mask gradient off the tape.
 */
const constantRowMax = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const x = args[0] as tf.Tensor;
  return {value: tf.max(x, -1, true), gradFunc: () => tf.zerosLike(x)};
}) as (x: tf.Tensor) => tf.Tensor;

/** log softmax over the last axis: z - log(sum(exp(z))) with z = x - max(x). */
export function logSoftmax(logits: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const z = tf.sub(logits, constantRowMax(logits));
    return tf.sub(z, tf.log(tf.sum(tf.exp(z), -1, true))) as tf.Tensor2D;
  });
}

/** softmax over the last axis, as exp(logSoftmax). */
export function softmax(logits: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => tf.exp(logSoftmax(logits)) as tf.Tensor2D);
}

/**
 * Treats `t` as a constant: same value, zero gradient. tfjs has no stopGradient op; this custom gradient is one.
 * Used for teacher logits, so no gradient reaches the teacher or (through it) the images.
 */
export const stopGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const t = args[0] as tf.Tensor;
  return {value: tf.clone(t), gradFunc: () => tf.zerosLike(t)};
}) as <T extends tf.Tensor>(t: T) => T;

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
