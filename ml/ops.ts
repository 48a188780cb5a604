/**
 * Softmax-family ops built from primitives whose gradients are right at every order (with ml/grad-fixes.ts
 * installed). tf.logSoftmax is a customGrad op whose gradient uses its saved output, so its second-order gradient is
 * wrong (measured 1e-1 off); these versions are the ones to use inside an unrolled inner loop.
 */
import * as tf from '@tensorflow/tfjs-core';

/**
 * Same value, zero gradient (tfjs has no stop-gradient op). The zero gradient is a constant, so it stays right at
 * every order.
 */
export const stopGradient = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
  const t = args[0] as tf.Tensor;
  return {value: tf.clone(t), gradFunc: () => tf.zerosLike(t)};
}) as <T extends tf.Tensor>(t: T) => T;

/**
 * log(sum(exp(x), axis)), shifted by the max for range. The shift carries no gradient: the result does not depend on
 * it, and the stop-gradient keeps max's mask off the tape.
 */
export function logSumExp<T extends tf.Tensor>(x: T, axis = -1, keepDims = false): tf.Tensor {
  return tf.tidy(() => {
    const m = stopGradient(tf.max(x, axis, true));
    const lse = tf.add(m, tf.log(tf.sum(tf.exp(tf.sub(x, m)), axis, true)));
    return keepDims ? lse : tf.squeeze(lse, [axis < 0 ? axis + x.rank : axis]);
  });
}

/** x - logSumExp(x) along `axis`. */
export function logSoftmax<T extends tf.Tensor>(x: T, axis = -1): T {
  return tf.tidy(() => tf.sub(x, logSumExp(x, axis, true)) as T);
}

/** exp(logSoftmax(x)) along `axis`. */
export function softmax<T extends tf.Tensor>(x: T, axis = -1): T {
  return tf.tidy(() => tf.exp(logSoftmax(x, axis)) as T);
}
