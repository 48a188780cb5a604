/**
 * Options of trajectory matching with a teacher (MTT + KD): what a caller may set, the defaults, and the checks that
 * turn a bad combination into a typed failure before any tensor is made.
 *
 * Defaults are the spec's recommended start for CIFAR-10 IPC10 without ZCA (syn_steps 30, expert_epochs 2,
 * max_start_epoch 20, lr_img 1000, lr_lr 1e-5, syn_lr0 = lr_teacher = 0.01, 5000 iterations, batch_syn = all images,
 * momentum 0.5 on both outer optimisers). alpha defaults to 0 (plain MTT) so the KD term is opt-in.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type {Dataset} from './data/dataset.js';
import type {DsaOptions} from './dsa.js';
import type {FunctionalModel} from './model.js';
import type {Teacher as TrainTeacher} from './train.js';

/**
 * A differentiable augmentation (DSA) of a batch: must be a pure function of `x` and `seed` (the same seed gives the
 * same transform), because the teacher sees the batch augmented off the tape and the student the same batch again
 * on the tape.
 */
export type Augment = (x: tf.Tensor4D, seed: number) => tf.Tensor4D;

/** The teacher: logits of a batch in evaluation mode. Its output is treated as a constant (no gradient). */
export type TeacherFn = (x: tf.Tensor4D) => tf.Tensor2D;

/** A teacher as a plain function or as ml/train.ts's `{logits}` object (e.g. from `teacherFromModel`). */
export type MttTeacher = TeacherFn | TrainTeacher;

/** One expert trajectory: flat parameter snapshots, entry e = the state after e epochs (entry 0 = the init). */
export type Trajectory = readonly (Float32Array | tf.Tensor1D)[];

/** How the meta-gradient is computed; both give the same gradient (up to float rounding). */
export type UnrollMode =
  /**
   * One tf.grads over the whole unrolled function (the reference's shape). The tape keeps every intermediate of
   * every inner step, so memory grows linearly with syn_steps.
   */
  | 'full'
  /**
   * Reverse accumulation step by step: a tape-free forward keeps only the N flat parameter vectors, then each
   * step is re-run on a tape and its vector-Jacobian product taken with the adjoint of the step after it. Memory is
   * that of ONE unrolled step (plus N parameter vectors), at the price of N-1 extra untaped inner steps.
   */
  | 'stepwise';

/** Per-iteration report. `synLr` is the student learning rate used in that iteration (before its update). */
export interface MttProgress {
  readonly loss: number;
  readonly synLr: number;
}

/** Options of {@link distill}. Field names follow the reference CLI (camelCase). */
export interface DistillOptions {
  /** Student architecture; only its structure matters (it is run as f(theta, x) with expert parameters). */
  readonly model: FunctionalModel;
  /** Expert trajectories (flat snapshots in `model`'s parameter order). */
  readonly experts: readonly Trajectory[];
  /** Real images: the synthetic set starts from `ipc` random real images per class of it (class-major labels). */
  readonly real: Dataset;
  /** Synthetic images per class. Default 10. */
  readonly ipc?: number;
  /** Outer iterations (updates). Default 5000. */
  readonly iterations?: number;
  /** N: unrolled student steps per iteration. Default 30. */
  readonly synSteps?: number;
  /** M: the target is the expert M epochs after the start. Default 2. */
  readonly expertEpochs?: number;
  /** T+: start epoch ~ U{0..maxStartEpoch-1}. Default 20. */
  readonly maxStartEpoch?: number;
  /** Outer learning rate of the pixels. Default 1000. */
  readonly lrImg?: number;
  /** Outer learning rate of syn_lr. Default 1e-5. */
  readonly lrLr?: number;
  /** Initial student learning rate syn_lr (the experts' lr in the reference). Default 0.01. */
  readonly lrTeacher?: number;
  /** Momentum of both outer SGD optimisers. Default 0.5. */
  readonly momentum?: number;
  /** Synthetic images per inner step; default all of them (classes x ipc). */
  readonly batchSyn?: number;
  /** Weight of the KD term in the inner loss, in [0, 1]. Default 0 (plain MTT; the teacher is never called). */
  readonly alpha?: number;
  /** KD softmax temperature. Default 4. */
  readonly temperature?: number;
  /** Teacher logits; required when alpha > 0. */
  readonly teacher?: MttTeacher;
  /**
   * DSA on every inner batch (per-sample parameters, one family per batch in mode 'S', like the reference).
   * Default `{}`: on, strategy color_crop_cutout_flip_scale_rotate. `false` turns augmentation off.
   */
  readonly dsa?: DsaOptions | false;
  /** A custom augmentation instead of DSA (takes precedence over `dsa`). */
  readonly augment?: Augment;
  /** Default 'stepwise' (constant memory in synSteps). */
  readonly unroll?: UnrollMode;
  /** Seeds image selection, expert/start-epoch draws, batch permutations and augmentation seeds. Default 0. */
  readonly seed?: number;
  /** Called after every iteration. */
  readonly onProgress?: (iteration: number, progress: MttProgress) => void;
  readonly signal?: AbortSignal;
}

/** Options after defaults were applied and checked. */
export interface ResolvedDistillOptions {
  readonly ipc: number;
  readonly iterations: number;
  readonly synSteps: number;
  readonly expertEpochs: number;
  readonly maxStartEpoch: number;
  readonly lrImg: number;
  readonly lrLr: number;
  readonly lrTeacher: number;
  readonly momentum: number;
  readonly batchSyn: number;
  readonly alpha: number;
  readonly temperature: number;
  readonly unroll: UnrollMode;
  readonly seed: number;
}

/** The defaults, documented in docs/mtt.md. batchSyn has none: it is the synthetic set size. */
export const MTT_DEFAULTS = {
  ipc: 10,
  iterations: 5000,
  synSteps: 30,
  expertEpochs: 2,
  maxStartEpoch: 20,
  lrImg: 1000,
  lrLr: 1e-5,
  lrTeacher: 0.01,
  momentum: 0.5,
  alpha: 0,
  temperature: 4,
  unroll: 'stepwise',
  seed: 0,
} as const satisfies Omit<ResolvedDistillOptions, 'batchSyn'>;

function isPositiveInt(v: number): boolean {
  return Number.isInteger(v) && v > 0;
}

/**
 * Applies the defaults and checks every option against the others (trajectory lengths, parameter counts, teacher
 * presence). Returns the resolved options, or the list of problems (each a sentence naming the option).
 */
export function resolveDistillOptions(
  options: DistillOptions,
): {ok: true; value: ResolvedDistillOptions} | {ok: false; error: string[]} {
  const d = MTT_DEFAULTS;
  const ipc = options.ipc ?? d.ipc;
  const classes = options.real.classes;
  const r: ResolvedDistillOptions = {
    ipc,
    iterations: options.iterations ?? d.iterations,
    synSteps: options.synSteps ?? d.synSteps,
    expertEpochs: options.expertEpochs ?? d.expertEpochs,
    maxStartEpoch: options.maxStartEpoch ?? d.maxStartEpoch,
    lrImg: options.lrImg ?? d.lrImg,
    lrLr: options.lrLr ?? d.lrLr,
    lrTeacher: options.lrTeacher ?? d.lrTeacher,
    momentum: options.momentum ?? d.momentum,
    batchSyn: options.batchSyn ?? classes * ipc,
    alpha: options.alpha ?? d.alpha,
    temperature: options.temperature ?? d.temperature,
    unroll: options.unroll ?? d.unroll,
    seed: options.seed ?? d.seed,
  };
  const problems: string[] = [];
  for (const key of ['ipc', 'iterations', 'synSteps', 'expertEpochs', 'maxStartEpoch', 'batchSyn'] as const) {
    if (!isPositiveInt(r[key])) problems.push(`${key} must be a positive integer, got ${r[key]}`);
  }
  for (const key of ['lrImg', 'lrLr', 'lrTeacher', 'temperature'] as const) {
    if (!(Number.isFinite(r[key]) && r[key] > 0)) problems.push(`${key} must be a finite number > 0, got ${r[key]}`);
  }
  if (!(r.momentum >= 0 && r.momentum < 1)) problems.push(`momentum must be in [0, 1), got ${r.momentum}`);
  if (!(r.alpha >= 0 && r.alpha <= 1)) problems.push(`alpha must be in [0, 1], got ${r.alpha}`);
  if (r.alpha > 0 && options.teacher === undefined) problems.push(`alpha = ${r.alpha} > 0 needs a teacher`);
  if (r.batchSyn > classes * ipc) {
    problems.push(`batchSyn ${r.batchSyn} is larger than the synthetic set (${classes} classes x ipc ${ipc})`);
  }
  if (r.unroll !== 'full' && r.unroll !== 'stepwise') problems.push(`unroll must be 'full' or 'stepwise'`);
  const real = options.real;
  const model = options.model;
  if (options.experts.length === 0) problems.push('experts: at least one trajectory is needed');
  const needed = r.maxStartEpoch + r.expertEpochs;
  options.experts.forEach((traj, e) => {
    if (traj.length < needed) {
      problems.push(
        `expert ${e} has ${traj.length} snapshots; maxStartEpoch ${r.maxStartEpoch} + expertEpochs ` +
          `${r.expertEpochs} needs at least ${needed}`,
      );
    }
    traj.forEach((snap, t) => {
      const size = snap instanceof Float32Array ? snap.length : snap.size;
      if (size !== model.numParams) {
        problems.push(`expert ${e} snapshot ${t} has ${size} values, the model has ${model.numParams} parameters`);
      }
    });
  });
  if (real.n === 0) problems.push('real: the data set is empty');
  return problems.length > 0 ? {ok: false, error: problems} : {ok: true, value: r};
}
