/**
 * Dataset distillation by matching training trajectories (MTT, Cazenavette et al. 2022) with a knowledge-distillation
 * term from a teacher in the inner loss: the method of the paper draft this project implements.
 *
 * One outer iteration: pick an expert and a start epoch t, set theta_0 = trajectory[t] and theta* = trajectory[t+M];
 * unroll N student SGD steps on (augmented) synthetic mini-batches with the inner loss
 *   (1 - alpha) * CE(student, labels) + alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T)),
 * theta_{k+1} = theta_k - syn_lr * grad; the matching loss is ||theta_N - theta*||^2 / ||theta_0 - theta*||^2, and its
 * gradient (second order: through every inner gradient) moves the pixels and syn_lr by SGD with momentum.
 *
 * KD conventions: the teacher sees the SAME augmented batch as the student at every inner step; its logits are
 * computed off the tape (so no teacher activations are kept and no gradient reaches the teacher or, through it, the
 * pixels); KL is summed over classes and averaged over the batch ("batchmean") and scaled by T^2 (ml/losses.ts).
 * With alpha = 0 the teacher is never called and the inner loss is exactly the cross-entropy of plain MTT.
 */
import * as tf from '@tensorflow/tfjs-core';
import {stratifiedIndices, type Dataset} from './data/dataset.js';
import {diffAugment, type DsaOptions} from './dsa.js';
import {distillationLoss, type KdOptions} from './losses.js';
import type {FunctionalModel} from './model.js';
import {
  resolveDistillOptions,
  type Augment,
  type DistillOptions,
  type MttTeacher,
  type TeacherFn,
  type Trajectory,
  type UnrollMode,
} from './mtt-config.js';
import type {MttFailure} from './mtt-failure.js';
import {createRng, permutation, type Rng} from './rng.js';
import {MomentumSgd} from './sgd-momentum.js';

/** One unrolled inner step, decided before the tape starts so the teacher can see the same batch off the tape. */
export interface InnerStepPlan {
  /** Synthetic images of this step's mini-batch. */
  readonly indices: Int32Array;
  /** Seed of this step's augmentation (ignored without one). */
  readonly augSeed: number;
  /** Teacher logits of the augmented batch, when alpha > 0. */
  readonly teacherLogits?: tf.Tensor2D;
}

/** Everything the matching loss depends on besides the two things it is differentiated for (pixels and syn_lr). */
export interface MatchingProblem {
  readonly model: FunctionalModel;
  /** Labels of all synthetic images, int32 [n]. */
  readonly labels: tf.Tensor1D;
  readonly theta0: tf.Tensor1D;
  readonly thetaStar: tf.Tensor1D;
  readonly steps: readonly InnerStepPlan[];
  readonly kd: KdOptions;
  readonly augment?: Augment;
}

/** The meta-gradient of one outer iteration. The caller owns (and disposes) all three tensors. */
export interface MetaGradient {
  readonly loss: tf.Scalar;
  readonly images: tf.Tensor4D;
  readonly synLr: tf.Scalar;
}

/**
 * The mini-batches of one iteration as the reference draws them: a chunk list that starts empty each iteration;
 * whenever it is empty, a random permutation of the n images is cut into chunks of `batchSyn`, and every step takes
 * the LAST remaining chunk (Python's list.pop()). A short trailing chunk is therefore used first.
 */
export function planBatches(rng: Rng, n: number, batchSyn: number, synSteps: number): InnerStepPlan[] {
  const steps: InnerStepPlan[] = [];
  let chunks: Int32Array[] = [];
  for (let k = 0; k < synSteps; k++) {
    if (chunks.length === 0) {
      const perm = permutation(rng, n);
      for (let s = 0; s < n; s += batchSyn) chunks.push(perm.slice(s, Math.min(s + batchSyn, n)));
    }
    const indices = chunks.pop();
    if (indices === undefined) throw new Error('Internal error: empty chunk list');
    // Drawn for every step, augmentation or not, so the random stream does not depend on whether DSA is on.
    steps.push({indices, augSeed: rng.int(0, 0x7fffffff)});
  }
  return steps;
}

/** The (augmented) mini-batch of `step`; differentiable with respect to `images`. */
export function stepBatch(images: tf.Tensor4D, step: InnerStepPlan, augment: Augment | undefined): tf.Tensor4D {
  return tf.tidy(() => {
    const x = tf.gather(images, tf.tensor1d(step.indices, 'int32')) as tf.Tensor4D;
    return augment === undefined ? x : augment(x, step.augSeed);
  });
}

/** DSA ({@link diffAugment}) as an {@link Augment}: the same seed gives the same draw. */
export function dsaAugment(options: DsaOptions = {}): Augment {
  return (x, seed) => diffAugment(x, seed, options);
}

/** The augmentation {@link distill} uses: `augment`, else DSA unless `dsa` is false. */
export function resolveAugment(options: Pick<DistillOptions, 'augment' | 'dsa'>): Augment | undefined {
  if (options.augment !== undefined) return options.augment;
  return options.dsa === false ? undefined : dsaAugment(options.dsa ?? {});
}

/** The teacher as a function. */
export function teacherFunction(teacher: MttTeacher): TeacherFn {
  return typeof teacher === 'function' ? teacher : (x) => teacher.logits(x);
}

/** Returns `steps` with teacher logits of each augmented batch, computed off the tape. The caller disposes them. */
export function withTeacherLogits(
  steps: readonly InnerStepPlan[],
  images: tf.Tensor4D,
  teacher: (x: tf.Tensor4D) => tf.Tensor2D,
  augment: Augment | undefined,
): InnerStepPlan[] {
  return steps.map((step) => ({...step, teacherLogits: tf.tidy(() => teacher(stepBatch(images, step, augment)))}));
}

/**
 * One student step k: theta - synLr * d innerLoss / d theta, with the gradient taken on a nested tape so that an
 * enclosing tf.grads differentiates through it (second order).
 */
export function innerStep(
  problem: MatchingProblem,
  k: number,
  theta: tf.Tensor1D,
  images: tf.Tensor4D,
  synLr: tf.Scalar,
): tf.Tensor1D {
  const step = problem.steps[k];
  if (step === undefined) throw new Error(`Internal error: no plan for inner step ${k}`);
  return tf.tidy(() => {
    const x = stepBatch(images, step, problem.augment);
    const y = tf.gather(problem.labels, tf.tensor1d(step.indices, 'int32')) as tf.Tensor1D;
    const inner = (th: tf.Tensor): tf.Scalar =>
      distillationLoss(problem.model.forward(th as tf.Tensor1D, x), y, step.teacherLogits, problem.kd);
    const g = tf.grad(inner)(theta);
    return tf.sub(theta, tf.mul(synLr, g)) as tf.Tensor1D;
  });
}

/** ||theta_0 - theta*||^2, the normaliser of the matching loss (a constant of the problem). */
function startDistance(problem: MatchingProblem): tf.Scalar {
  return tf.tidy(() => tf.sum(tf.square(tf.sub(problem.theta0, problem.thetaStar))) as tf.Scalar);
}

/** The matching loss ||theta_N - theta*||^2 / ||theta_0 - theta*||^2 as a differentiable function of pixels and syn_lr. */
export function matchingLoss(problem: MatchingProblem, images: tf.Tensor4D, synLr: tf.Scalar): tf.Scalar {
  return tf.tidy(() => {
    let theta = problem.theta0;
    for (let k = 0; k < problem.steps.length; k++) theta = innerStep(problem, k, theta, images, synLr);
    return tf.div(tf.sum(tf.square(tf.sub(theta, problem.thetaStar))), startDistance(problem)) as tf.Scalar;
  });
}

/** The loss and its gradient with respect to the pixels and syn_lr (see {@link UnrollMode}). */
export function metaGradient(
  problem: MatchingProblem,
  images: tf.Tensor4D,
  synLr: tf.Scalar,
  mode: UnrollMode,
): MetaGradient {
  switch (mode) {
    case 'full':
      return tf.tidy(() => {
        const f = (img: tf.Tensor, lr: tf.Tensor): tf.Scalar =>
          matchingLoss(problem, img as tf.Tensor4D, lr as tf.Scalar);
        const {value, grads} = tf.valueAndGrads(f)([images, synLr]);
        const [gImages, gLr] = grads;
        if (gImages === undefined || gLr === undefined) throw new Error('Internal error: missing meta-gradient');
        return {loss: value as tf.Scalar, images: gImages as tf.Tensor4D, synLr: gLr as tf.Scalar};
      });
    case 'stepwise':
      return stepwiseMetaGradient(problem, images, synLr);
    default: {
      const never: never = mode;
      throw new Error(`Internal error: unknown unroll mode ${String(never)}`);
    }
  }
}

/**
 * Reverse accumulation one step at a time. Forward: theta_0..theta_{N-1} without an outer tape (only the flat vectors
 * are kept). The last step and the loss are taped together, giving the loss, a_{N-1} = dL/dtheta_{N-1} and the last
 * step's share of the pixel and syn_lr gradients; then for k = N-2..0 step k is re-run on a tape and
 * (a_k, pixel share, syn_lr share) = vjp of step k at (theta_k, pixels, synLr) with a_{k+1}.
 * Peak memory is one step's double-backward graph instead of N of them; the cost is N-1 extra untaped steps.
 */
function stepwiseMetaGradient(problem: MatchingProblem, images: tf.Tensor4D, synLr: tf.Scalar): MetaGradient {
  const n = problem.steps.length;
  if (n === 0) throw new Error('Internal error: no inner steps');
  const thetas: tf.Tensor1D[] = [problem.theta0];
  const at = (k: number): tf.Tensor1D => {
    const t = thetas[k];
    if (t === undefined) throw new Error(`Internal error: theta_${k} missing`);
    return t;
  };
  try {
    for (let k = 0; k < n - 1; k++) thetas.push(innerStep(problem, k, at(k), images, synLr));
    const last = tf.tidy(() => {
      const f = (th: tf.Tensor, img: tf.Tensor, lr: tf.Tensor): tf.Scalar => {
        const thetaN = innerStep(problem, n - 1, th as tf.Tensor1D, img as tf.Tensor4D, lr as tf.Scalar);
        return tf.div(tf.sum(tf.square(tf.sub(thetaN, problem.thetaStar))), startDistance(problem)) as tf.Scalar;
      };
      const {value, grads} = tf.valueAndGrads(f)([at(n - 1), images, synLr]);
      const [a, b, c] = grads;
      if (a === undefined || b === undefined || c === undefined) throw new Error('Internal error: missing gradient');
      return {loss: value as tf.Scalar, adj: a as tf.Tensor1D, gImages: b as tf.Tensor4D, gLr: c as tf.Scalar};
    });
    let {adj, gImages, gLr} = last;
    for (let k = n - 2; k >= 0; k--) {
      const theta = at(k);
      const dy = adj;
      const [aTheta, dImages, dLr] = tf.tidy(() => {
        const step = (th: tf.Tensor, img: tf.Tensor, lr: tf.Tensor): tf.Tensor1D =>
          innerStep(problem, k, th as tf.Tensor1D, img as tf.Tensor4D, lr as tf.Scalar);
        const [a, b, c] = tf.grads(step)([theta, images, synLr], dy);
        if (a === undefined || b === undefined || c === undefined) throw new Error('Internal error: missing vjp');
        return [a as tf.Tensor1D, tf.add(gImages, b) as tf.Tensor4D, tf.add(gLr, c) as tf.Scalar] as const;
      });
      tf.dispose([dy, gImages, gLr]);
      adj = aTheta;
      gImages = dImages;
      gLr = dLr;
      // theta_{k+1} is no longer needed once its adjoint has been propagated past it.
      thetas[k + 1]?.dispose();
      thetas.length = k + 1;
    }
    adj.dispose();
    return {loss: last.loss, images: gImages, synLr: gLr};
  } finally {
    // theta_0 belongs to the caller; everything else still alive (after a throw) is ours.
    for (const t of thetas.slice(1)) t.dispose();
  }
}

/** The distilled set and the curves of the run. */
export interface DistillResult {
  /** Synthetic images (NHWC, same normalisation as the real set) with their class-major hard labels. */
  readonly synthetic: Dataset;
  /** The learned student learning rate (the one evaluation nets should train with). */
  readonly synLr: number;
  /** Matching loss of every iteration (before its update). */
  readonly losses: readonly number[];
  /** syn_lr used in every iteration. */
  readonly synLrs: readonly number[];
}

/** Outcome of {@link distill}. */
export type DistillOutcome = {ok: true; value: DistillResult} | {ok: false; error: MttFailure};

function snapshotTensor(snap: Float32Array | tf.Tensor1D, owned: tf.Tensor[]): tf.Tensor1D {
  if (!(snap instanceof Float32Array)) return snap;
  const t = tf.tensor1d(snap, 'float32');
  owned.push(t);
  return t;
}

/** Yields to the event loop so an AbortSignal (and timers, progress renderers) can run between iterations. */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Distils `options.real` into `ipc` images per class by trajectory matching with an optional KD term.
 * Deterministic in `options.seed` (on a given backend). Never throws for the expected failures: invalid options,
 * divergence (NaN/Infinity loss or pixels, syn_lr <= 0) and abort come back as an {@link MttFailure}.
 */
export async function distill(options: DistillOptions): Promise<DistillOutcome> {
  const resolved = resolveDistillOptions(options);
  if (!resolved.ok) return {ok: false, error: {reason: 'invalid-options', problems: resolved.error}};
  const o = resolved.value;
  const {real, model, experts} = options;
  const teacher = options.teacher === undefined ? undefined : teacherFunction(options.teacher);
  const augment = resolveAugment(options);
  const rng = createRng(o.seed);
  let picked: number[];
  try {
    picked = stratifiedIndices(real, o.ipc, rng.int(0, 0x7fffffff));
  } catch (e) {
    return {ok: false, error: {reason: 'invalid-options', problems: [e instanceof Error ? e.message : String(e)]}};
  }
  const n = picked.length;
  const pixels = real.height * real.width * real.channels;
  const x0 = new Float32Array(n * pixels);
  picked.forEach((src, dst) => x0.set(real.x.subarray(src * pixels, (src + 1) * pixels), dst * pixels));
  // Class-major hard labels [0]*ipc, [1]*ipc, ... (stratifiedIndices returns the images in that order).
  const y = Int32Array.from({length: n}, (_, i) => Math.floor(i / o.ipc));

  let images = tf.tensor4d(x0, [n, real.height, real.width, real.channels]);
  let synLr = tf.scalar(o.lrTeacher);
  const labels = tf.tensor1d(y, 'int32');
  const imageOpt = new MomentumSgd(o.lrImg, o.momentum);
  const lrOpt = new MomentumSgd(o.lrLr, o.momentum);
  const losses: number[] = [];
  const synLrs: number[] = [];
  const kd: KdOptions = {alpha: o.alpha, temperature: o.temperature};
  const cleanup = (): void => {
    images.dispose();
    synLr.dispose();
    labels.dispose();
    imageOpt.dispose();
    lrOpt.dispose();
  };

  try {
    for (let it = 0; it < o.iterations; it++) {
      if (options.signal?.aborted === true) return {ok: false, error: {reason: 'aborted', iteration: it}};
      const trajectory: Trajectory | undefined = experts[rng.int(0, experts.length)];
      if (trajectory === undefined) throw new Error('Internal error: expert index out of range');
      const start = rng.int(0, o.maxStartEpoch);
      const owned: tf.Tensor[] = [];
      let grad: MetaGradient;
      let lossValue: number;
      const synLrValue = (await synLr.data())[0] ?? Number.NaN;
      try {
        const theta0 = snapshotTensor(trajectory[start] as Float32Array | tf.Tensor1D, owned);
        const thetaStar = snapshotTensor(trajectory[start + o.expertEpochs] as Float32Array | tf.Tensor1D, owned);
        let steps = planBatches(rng, n, o.batchSyn, o.synSteps);
        // alpha = 0 is plain MTT: the teacher is not even evaluated.
        if (o.alpha > 0 && teacher !== undefined) {
          steps = withTeacherLogits(steps, images, teacher, augment);
          for (const s of steps) if (s.teacherLogits !== undefined) owned.push(s.teacherLogits);
        }
        const problem: MatchingProblem = {
          model,
          labels,
          theta0,
          thetaStar,
          steps,
          kd,
          ...(augment === undefined ? {} : {augment}),
        };
        grad = metaGradient(problem, images, synLr, o.unroll);
        lossValue = (await grad.loss.data())[0] ?? Number.NaN;
      } finally {
        for (const t of owned) t.dispose();
      }
      if (!Number.isFinite(lossValue)) {
        tf.dispose([grad.loss, grad.images, grad.synLr]);
        return {ok: false, error: {reason: 'non-finite-loss', iteration: it, loss: lossValue}};
      }
      const nextImages = imageOpt.step(images, grad.images);
      const nextLr = lrOpt.step(synLr, grad.synLr);
      tf.dispose([grad.loss, grad.images, grad.synLr, images, synLr]);
      images = nextImages;
      synLr = nextLr;
      losses.push(lossValue);
      synLrs.push(synLrValue);
      options.onProgress?.(it, {loss: lossValue, synLr: synLrValue});
      // One scalar read checks every pixel: a sum is finite only if all terms are (or it overflowed, equally bad).
      const pixelSum = tf.tidy(() => tf.sum(images));
      const sum = (await pixelSum.data())[0] ?? Number.NaN;
      pixelSum.dispose();
      if (!Number.isFinite(sum)) return {ok: false, error: {reason: 'non-finite-images', iteration: it}};
      const lrNow = (await synLr.data())[0] ?? Number.NaN;
      if (!(Number.isFinite(lrNow) && lrNow > 0)) {
        return {ok: false, error: {reason: 'non-positive-lr', iteration: it, synLr: lrNow}};
      }
      await yieldToEventLoop();
    }
    const finalLr = (await synLr.data())[0] ?? Number.NaN;
    const finalImages = Float32Array.from(await images.data());
    return {
      ok: true,
      value: {synthetic: {...real, x: finalImages, y, n}, synLr: finalLr, losses, synLrs},
    };
  } finally {
    cleanup();
  }
}
