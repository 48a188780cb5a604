/**
 * Normalisation layers with affine parameters, fused into one kernel forward and one backward where the backend has
 * them (libtorch), composite tfjs ops elsewhere:
 * - instance norm (the ConvNet's norm: GroupNorm with one group per channel): statistics per image and channel;
 * - batch norm in training mode (the ResNet teacher's): statistics per channel over the batch, also returned for
 *   the running averages.
 *
 * Why: written as tfjs ops, a norm is about eight passes over the activations forward and fifteen backward, most of
 * a training step's element-wise work; the fused kernels make two or three passes each way.
 *
 * The gradients (registered once for every backend, checked at first and second order in test/gradients.test.ts)
 * come from the fused backward kernel where the backend has one, else from the composite formula
 * dx = gamma * rstd * (dy - mean(dy) - xhat * mean(dy * xhat)) in tfjs ops. The fused backward kernels have a
 * registered gradient of their own (normGradGrad, the double backward in closed form), so when a gradient is itself
 * differentiated (trajectory matching's inner steps) the outer tape records one backward kernel per norm and keeps
 * its three inputs, instead of the fifteen or so full-size intermediates of the composite formula: that is what lets
 * a 20-step unroll at width 128 fit in memory. (A gradient function cannot call tf.grads itself: the inner call would
 * close the outer backward pass's tape; hence the closed form.) All gradients of one kernel come from one computation
 * made when the gradient is asked for; unused ones die with the backward pass's scope.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GradConfig, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';

/** The fused kernels' names. */
export const INSTANCE_NORM = 'InstanceNorm';
export const INSTANCE_NORM_GRAD = 'InstanceNormGrad';
export const BATCH_NORM_TRAIN = 'BatchNormTrain';
export const BATCH_NORM_TRAIN_GRAD = 'BatchNormTrainGrad';

const INSTANCE_AXES = [1, 2];
const BATCH_AXES = [0, 1, 2];

function fused(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** y, and the (kept-dimension) mean and biased variance over `axes`, in tfjs ops. */
function compositeForward(x: Tensor, gamma: Tensor, beta: Tensor, eps: number, axes: number[]): [Tensor, Tensor, Tensor] {
  // x - mean is formed once and shared by the variance and the output (one full-size op fewer each way).
  const mean = tf.mean(x, axes, true);
  const centered = tf.sub(x, mean);
  const variance = tf.mean(tf.square(centered), axes, true);
  const normalised = tf.mul(centered, tf.rsqrt(tf.add(variance, eps)));
  return [tf.add(tf.mul(normalised, gamma), beta), mean, variance];
}

/** y = (x - mean) / sqrt(var + eps) * gamma + beta, with mean and (biased) var per image and channel over H, W. */
export function instanceNorm(x: tf.Tensor4D, gamma: Tensor, beta: Tensor, eps: number): tf.Tensor4D {
  if (!fused(INSTANCE_NORM)) return compositeForward(x, gamma, beta, eps, INSTANCE_AXES)[0] as tf.Tensor4D;
  return tf.engine().runKernel(INSTANCE_NORM, {x, gamma, beta}, {eps}) as tf.Tensor4D;
}

/** Training-mode batch norm of NHWC x: [y, mean [C], biased variance [C]], statistics over N, H and W. */
export function batchNormTrain(x: tf.Tensor4D, gamma: Tensor, beta: Tensor, eps: number): [tf.Tensor4D, tf.Tensor1D, tf.Tensor1D] {
  const c = x.shape[3];
  if (!fused(BATCH_NORM_TRAIN)) {
    const [y, mean, variance] = compositeForward(x, gamma, beta, eps, BATCH_AXES);
    return [y as tf.Tensor4D, tf.reshape(mean, [c]), tf.reshape(variance, [c])];
  }
  const [y, mean, variance] = tf.engine().runKernel(BATCH_NORM_TRAIN, {x, gamma, beta}, {eps}) as Tensor[];
  if (y === undefined || mean === undefined || variance === undefined) throw new Error('Internal error: batch norm outputs');
  return [y as tf.Tensor4D, mean as tf.Tensor1D, variance as tf.Tensor1D];
}

/** [dx, dgamma, dbeta] of the normalisation over `axes` for the incoming gradient dy, in differentiable tfjs ops. */
export function compositeNormGrad(dy: Tensor, x: Tensor, gamma: Tensor, eps: number, axes: readonly number[]): [Tensor, Tensor, Tensor] {
  const {xhat, project} = normalisation(x, eps, axes);
  return [project(tf.mul(dy, gamma)), tf.sum(tf.mul(dy, xhat), BATCH_AXES), tf.sum(dy, BATCH_AXES)];
}

/**
 * x's statistics over `axes` as the backward passes use them: rstd, xhat = (x - mean) * rstd, and the projection
 * v -> rstd * (v - mean(v) - xhat * mean(v * xhat)), which is the norm's dx for the gradient v of xhat.
 */
function normalisation(x: Tensor, eps: number, axes: readonly number[]): {rstd: Tensor; xhat: Tensor; project: (v: Tensor) => Tensor} {
  const over = [...axes];
  const centered = tf.sub(x, tf.mean(x, over, true));
  const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(centered), over, true), eps));
  const xhat = tf.mul(centered, rstd);
  const project = (v: Tensor): Tensor => tf.mul(rstd, tf.sub(tf.sub(v, tf.mean(v, over, true)), tf.mul(xhat, tf.mean(tf.mul(v, xhat), over, true))));
  return {rstd, xhat, project};
}

/** [dx, dgamma, dbeta] of instanceNorm (the kernel tests' reference). */
export function compositeInstanceNormGrad(dy: Tensor, x: Tensor, gamma: Tensor, eps: number): [Tensor, Tensor, Tensor] {
  return compositeNormGrad(dy, x, gamma, eps, INSTANCE_AXES);
}

/** [dx, dgamma, dbeta] of batchNormTrain's y (the kernel tests' reference). */
export function compositeBatchNormGrad(dy: Tensor, x: Tensor, gamma: Tensor, eps: number): [Tensor, Tensor, Tensor] {
  return compositeNormGrad(dy, x, gamma, eps, BATCH_AXES);
}

function saved(list: Tensor[], i: number): Tensor {
  const t = list[i];
  if (t === undefined) throw new Error(`Internal error: saved tensor ${i} missing`);
  return t;
}

function epsOf(attrs: unknown): number {
  const eps = (attrs as NamedAttrMap)['eps'];
  if (typeof eps !== 'number') throw new Error('Internal error: a fused norm without eps');
  return eps;
}

/** [dx, dgamma, dbeta]: the fused backward kernel `kernelName` where the backend has it, else the composite formula. */
function normGrad(kernelName: string, dy: Tensor, x: Tensor, gamma: Tensor, eps: number, axes: readonly number[]): Tensor[] {
  if (fused(kernelName)) return tf.engine().runKernel(kernelName, {dy, x, gamma}, {eps}) as Tensor[];
  return compositeNormGrad(dy, x, gamma, eps, axes);
}

/**
 * The gradient of the norm's backward pass (dx, dgamma, dbeta) = B(dy, x, gamma), normalised over `axes` with gamma
 * per channel (the last axis): given the incoming gradients ddx, ddgamma, ddbeta of B's outputs (null: unused),
 * returns [d dy, d x, d gamma]. Derived per group of M normalised elements, with xhat = (x - mean) * rstd,
 * g = dy * gamma, k = mean(g), m = mean(g * xhat) and dx = rstd * (g - k - xhat * m):
 * - B is self-adjoint in g: P = rstd * (ddx - mean(ddx) - xhat * mean(ddx * xhat)); d dy = gamma * P + ddgamma * xhat +
 *   ddbeta, d gamma = sum over N, H, W of dy * P.
 * - Through x: with G = -rstd * (m * ddx + mean(ddx * xhat) * g) + ddgamma * dy (the partial in xhat) and the partial
 *   in rstd, sum(ddx * dx) / rstd, the chain rule through xhat and rstd gives
 *   d x = rstd * (G - mean(G) - xhat * mean(G * xhat)) - rstd * xhat * mean(ddx * dx).
 * In differentiable tfjs ops, so a third order would still be right; checked against finite differences of the
 * fused kernels and of the composite formula in test/gradients.test.ts.
 */
export function normGradGrad(
  ddx: Tensor | null,
  ddgamma: Tensor | null,
  ddbeta: Tensor | null,
  dy: Tensor,
  x: Tensor,
  gamma: Tensor,
  eps: number,
  axes: readonly number[],
): [Tensor, Tensor, Tensor] {
  return tf.tidy(() => {
    const over = [...axes];
    const {rstd, xhat, project} = normalisation(x, eps, axes);
    let dDy: Tensor = tf.zerosLike(dy);
    let dGamma: Tensor = tf.zerosLike(gamma);
    // The gradient of xhat (with rstd held), projected once at the end; plus the part through rstd itself.
    let gradXhat: Tensor = tf.zerosLike(x);
    let viaRstd: Tensor | undefined;
    if (ddx !== null) {
      const g = tf.mul(dy, gamma);
      const p = project(ddx);
      dDy = tf.mul(gamma, p);
      dGamma = tf.sum(tf.mul(dy, p), BATCH_AXES);
      const m = tf.mean(tf.mul(g, xhat), over, true);
      gradXhat = tf.neg(tf.mul(rstd, tf.add(tf.mul(m, ddx), tf.mul(tf.mean(tf.mul(ddx, xhat), over, true), g))));
      viaRstd = tf.mul(tf.mul(rstd, xhat), tf.mean(tf.mul(ddx, project(g)), over, true));
    }
    if (ddgamma !== null) {
      // dgamma = sum(dy * xhat): d dy gains ddgamma * xhat, and xhat's gradient gains ddgamma * dy.
      dDy = tf.add(dDy, tf.mul(ddgamma, xhat));
      gradXhat = tf.add(gradXhat, tf.mul(ddgamma, dy));
    }
    if (ddbeta !== null) dDy = tf.add(dDy, ddbeta);
    const viaXhat = project(gradXhat);
    return [dDy, viaRstd === undefined ? viaXhat : tf.sub(viaXhat, viaRstd), dGamma];
  });
}

/** The registered gradient of a fused backward kernel: normGradGrad over `axes`. */
function backwardGradient(kernelName: string, axes: readonly number[]): GradConfig {
  return {
    kernelName,
    inputsToSave: ['dy', 'x', 'gamma'],
    gradFunc: (dys, list, attrs) => {
      const [ddx, ddgamma, ddbeta] = dys as Array<Tensor | null | undefined>;
      const [dDy, dX, dGamma] = normGradGrad(ddx ?? null, ddgamma ?? null, ddbeta ?? null, saved(list, 0), saved(list, 1), saved(list, 2), epsOf(attrs), axes);
      return {dy: () => dDy, x: () => dX, gamma: () => dGamma};
    },
  };
}

const GRADIENTS: readonly GradConfig[] = [
  {
    kernelName: INSTANCE_NORM,
    inputsToSave: ['x', 'gamma'],
    gradFunc: (dy, list, attrs) => {
      const [dx, dgamma, dbeta] = normGrad(INSTANCE_NORM_GRAD, dy as Tensor, saved(list, 0), saved(list, 1), epsOf(attrs), INSTANCE_AXES);
      if (dx === undefined || dgamma === undefined || dbeta === undefined) throw new Error('Internal error: instance norm gradient');
      return {x: () => dx, gamma: () => dgamma, beta: () => dbeta};
    },
  },
  {
    kernelName: BATCH_NORM_TRAIN,
    inputsToSave: ['x', 'gamma'],
    gradFunc: (dys, list, attrs) => {
      const x = saved(list, 0);
      const [gy, gMean, gVar] = dys as Array<Tensor | null>;
      const eps = epsOf(attrs);
      const c = x.shape[3] ?? 1;
      const count = x.size / c;
      const [dy0, dgamma, dbeta] =
        gy === null || gy === undefined
          ? [tf.zerosLike(x), tf.zeros([c]), tf.zeros([c])]
          : normGrad(BATCH_NORM_TRAIN_GRAD, gy, x, saved(list, 1), eps, BATCH_AXES);
      if (dy0 === undefined || dgamma === undefined || dbeta === undefined) throw new Error('Internal error: batch norm gradient');
      // The statistics outputs (for the running averages) rarely reach a loss; when they do: d mean/dx = 1/M and
      // d var/dx = 2 (x - mean) / M.
      let dx = dy0;
      if (gMean !== null && gMean !== undefined) dx = tf.add(dx, tf.div(tf.reshape(gMean, [1, 1, 1, c]), count));
      if (gVar !== null && gVar !== undefined) {
        const centered = tf.sub(x, tf.mean(x, BATCH_AXES, true));
        dx = tf.add(dx, tf.mul(centered, tf.div(tf.mul(tf.reshape(gVar, [1, 1, 1, c]), 2), count)));
      }
      return {x: () => dx, gamma: () => dgamma, beta: () => dbeta};
    },
  },
  backwardGradient(INSTANCE_NORM_GRAD, INSTANCE_AXES),
  backwardGradient(BATCH_NORM_TRAIN_GRAD, BATCH_AXES),
];

let installed = false;

/** Registers the gradients. Idempotent; called by activateBackend. */
export function installNormGradients(): void {
  if (installed) return;
  installed = true;
  for (const config of GRADIENTS) tf.registerGradient(config);
}
