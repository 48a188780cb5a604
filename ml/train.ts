/**
 * Mini-batch SGD training of a flat-parameter model on in-memory tensors: expert trajectories, the KD teacher, the
 * evaluation protocol's fresh nets, and KD students all use this loop.
 *
 * SGD follows PyTorch exactly: d = g + wd * w; v = momentum * v + d (v starts at d); w = w - lr * v. The learning
 * rate is multiplied by `lrDecayFactor` at the start of each epoch listed in `lrDecayEpochs`; the reference
 * evaluation protocol rebuilds its optimiser there, so by default the momentum buffer is reset as well.
 * Randomness (shuffling, DSA draws) comes from `seed`, so a run is deterministic on a given backend.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {FunctionalModel} from './model.js';
import {isStateful} from './stateful-model.js';
import {applyDsa, sampleDsa, type DsaOptions} from './dsa.js';
import {crossEntropy, distillationLoss} from './losses.js';
import {createRng, permutation} from './rng.js';
import {predictLogits} from './evaluate.js';

/** A frozen teacher for knowledge distillation: logits of a batch, treated as constants by the loss. */
export interface Teacher {
  logits(x: tf.Tensor4D): tf.Tensor2D;
}

/** A teacher from a model and its weights, evaluated in eval mode (running statistics when it has them). */
export function teacherFromModel(model: FunctionalModel, params: tf.Tensor1D, buffers?: tf.Tensor1D): Teacher {
  return {logits: (x) => predictLogits(model, params, x, buffers)};
}

/** Knowledge-distillation settings of a training run. */
export interface KdSettings {
  readonly teacher: Teacher;
  /** Weight of the KD term: loss = (1 - alpha) * CE + alpha * T^2 KL. */
  readonly alpha: number;
  readonly temperature: number;
}

/** Per-epoch figures. */
export interface EpochInfo {
  /** 1-based index of the finished epoch. */
  readonly epoch: number;
  /** Mean training loss over the epoch's batches (weighted by batch size). */
  readonly loss: number;
  /** Accuracy on the (augmented) training batches as they were trained on. */
  readonly trainAccuracy: number;
  /** Learning rate used during the epoch. */
  readonly lr: number;
}

/** Progress within a run. */
export interface TrainProgress {
  /** 0-based epoch in progress. */
  readonly epoch: number;
  /** 0-based batch within the epoch just finished. */
  readonly batch: number;
  readonly batches: number;
  readonly lr: number;
}

/** Everything a training run needs. Tensors passed in are not disposed or modified. */
export interface TrainOptions {
  readonly model: FunctionalModel;
  /** Starting parameters (e.g. `model.init(seed)`). */
  readonly params: tf.Tensor1D;
  /** Starting running statistics of a stateful model; default `model.initBuffers()`. */
  readonly buffers?: tf.Tensor1D;
  /** Training images [N,H,W,C], float32, already normalised. */
  readonly x: tf.Tensor4D;
  /** int32 labels [N]. */
  readonly y: tf.Tensor1D;
  readonly epochs: number;
  readonly batchSize: number;
  readonly lr: number;
  /** Default 0. */
  readonly momentum?: number;
  /** L2 weight decay added to the gradient (PyTorch's `weight_decay`). Default 0. */
  readonly weightDecay?: number;
  /** 0-based epochs at whose start the lr is multiplied by `lrDecayFactor`. Default none. */
  readonly lrDecayEpochs?: readonly number[];
  /** Default 0.1. */
  readonly lrDecayFactor?: number;
  /** Reset the momentum buffer when the lr decays (the reference rebuilds the optimiser). Default true. */
  readonly resetMomentumOnDecay?: boolean;
  /** DSA on every training batch; undefined for none. */
  readonly dsa?: DsaOptions;
  /** KD teacher: its logits are computed per batch on the same augmented batch the student sees. */
  readonly kd?: KdSettings;
  /** Seeds shuffling and augmentation. */
  readonly seed: number;
  /**
   * Called with epoch 0 and the initial parameters, then after each epoch e with the parameters after it (an expert
   * trajectory). The tensor is only valid during the call (clone it or read its data); a returned promise is awaited.
   */
  readonly onSnapshot?: (epoch: number, params: tf.Tensor1D) => void | Promise<void>;
  /** Called after each epoch. */
  readonly onEpoch?: (info: EpochInfo) => void;
  /** Called after each batch with the completed fraction of the run in (0, 1]. */
  readonly onProgress?: (fraction: number, info: TrainProgress) => void;
  /** Checked between batches; an abort throws the signal's reason (nothing is leaked). */
  readonly signal?: AbortSignal;
}

/** The outcome of {@link train}; the caller owns (and disposes) the tensors. */
export interface TrainResult {
  readonly params: tf.Tensor1D;
  /** Final running statistics (size 0 for models without state). */
  readonly buffers: tf.Tensor1D;
  readonly history: readonly EpochInfo[];
}

/** The reference evaluation schedule for `epochs` (Epoch): Epoch + 1 passes, lr x 0.1 at pass Epoch // 2 + 1. */
export function referenceEvalSchedule(epochs: number): {epochs: number; lrDecayEpochs: number[]} {
  return {epochs: epochs + 1, lrDecayEpochs: [Math.floor(epochs / 2) + 1]};
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

/** Trains `options.model` and returns the final parameters. See {@link TrainOptions}. */
export async function train(options: TrainOptions): Promise<TrainResult> {
  const {model, x, y, epochs, batchSize} = options;
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new Error(`train: ${n} images but ${y.shape[0]} labels`);
  if (!(batchSize >= 1) || !(epochs >= 0)) throw new Error('train: batchSize must be >= 1 and epochs >= 0');
  const momentum = options.momentum ?? 0;
  const weightDecay = options.weightDecay ?? 0;
  const decayAt = new Set(options.lrDecayEpochs ?? []);
  const decayFactor = options.lrDecayFactor ?? 0.1;
  const resetOnDecay = options.resetMomentumOnDecay ?? true;
  const stateful = isStateful(model) ? model : undefined;
  const root = createRng(options.seed);
  const shuffleRng = root.fork();
  const dsaRng = root.fork();
  const [, h, w] = x.shape;
  const batches = Math.ceil(n / batchSize);
  const yInt = tf.cast(y, 'int32');

  let params = tf.clone(options.params);
  let buffers = options.buffers !== undefined ? tf.clone(options.buffers) : (stateful?.initBuffers() ?? tf.tensor1d([]));
  let velocity: tf.Tensor1D | undefined;
  let lr = options.lr;
  const history: EpochInfo[] = [];
  // Running sums of the epoch, kept on the device so a batch costs no synchronisation.
  let lossSum: tf.Scalar | undefined;
  let correct: tf.Scalar | undefined;
  try {
    await options.onSnapshot?.(0, params);
    for (let epoch = 0; epoch < epochs; epoch++) {
      if (decayAt.has(epoch)) {
        lr *= decayFactor;
        if (resetOnDecay) {
          velocity?.dispose();
          velocity = undefined;
        }
      }
      const order = permutation(shuffleRng, n);
      lossSum = tf.scalar(0);
      correct = tf.scalar(0);
      for (let b = 0; b < batches; b++) {
        options.signal?.throwIfAborted();
        const idx = order.subarray(b * batchSize, Math.min(n, (b + 1) * batchSize));
        const draw = options.dsa !== undefined ? sampleDsa(dsaRng, idx.length, h, w, options.dsa) : undefined;
        const stepLr = lr;
        const out = tf.tidy(() => {
          const index = tf.tensor1d(idx, 'int32');
          let xb = tf.gather(x, index) as tf.Tensor4D;
          if (draw !== undefined) xb = applyDsa(xb, draw);
          const yb = tf.gather(yInt, index) as tf.Tensor1D;
          const teacherLogits = options.kd !== undefined && options.kd.alpha > 0 ? options.kd.teacher.logits(xb) : undefined;
          let newBuffers: tf.Tensor1D | undefined;
          let logitsOut: tf.Tensor2D | undefined;
          const lossOf = (p: tf.Tensor): tf.Scalar => {
            let logits: tf.Tensor2D;
            if (stateful !== undefined) {
              const r = stateful.forwardTrain(p as tf.Tensor1D, buffers, xb);
              // Keep what the gradient's internal scopes would otherwise dispose; released by the outer tidy below.
              newBuffers = tf.keep(r.buffers);
              logits = r.logits;
            } else {
              logits = model.forward(p as tf.Tensor1D, xb);
            }
            logitsOut = tf.keep(logits);
            return options.kd !== undefined
              ? distillationLoss(logits, yb, teacherLogits, {alpha: options.kd.alpha, temperature: options.kd.temperature})
              : crossEntropy(logits, yb);
          };
          const {value, grad} = tf.valueAndGrad(lossOf)(params);
          const d = weightDecay !== 0 ? tf.add(grad, tf.mul(params, weightDecay)) : grad;
          const v = momentum !== 0 && velocity !== undefined ? tf.add(tf.mul(velocity, momentum), d) : d;
          const next = tf.sub(params, tf.mul(v, stepLr)) as tf.Tensor1D;
          const hits = tf.sum(tf.cast(tf.equal(tf.argMax(logitsOut!, 1), yb), 'float32'));
          const kept = {
            params: next,
            velocity: momentum !== 0 ? (v as tf.Tensor1D) : undefined,
            buffers: newBuffers,
            lossSum: tf.add(lossSum!, tf.mul(value, idx.length)) as tf.Scalar,
            correct: tf.add(correct!, hits) as tf.Scalar,
          };
          // tf.keep'd tensors survive tidy; hand the ones not returned back to it explicitly.
          if (logitsOut !== undefined) logitsOut.dispose();
          return kept;
        });
        tf.dispose([params, lossSum, correct]);
        if (out.velocity !== undefined) velocity?.dispose();
        params = out.params;
        if (out.velocity !== undefined) velocity = out.velocity;
        if (out.buffers !== undefined) {
          buffers.dispose();
          buffers = out.buffers;
        }
        lossSum = out.lossSum;
        correct = out.correct;
        options.onProgress?.((epoch * batches + b + 1) / (epochs * batches), {epoch, batch: b, batches, lr: stepLr});
        await yieldToEventLoop();
      }
      const [loss, hits] = [(await lossSum.data())[0]!, (await correct.data())[0]!];
      tf.dispose([lossSum, correct]);
      lossSum = undefined;
      correct = undefined;
      const info: EpochInfo = {epoch: epoch + 1, loss: loss / n, trainAccuracy: hits / n, lr};
      history.push(info);
      options.onEpoch?.(info);
      await options.onSnapshot?.(epoch + 1, params);
    }
    return {params, buffers, history};
  } catch (e) {
    tf.dispose([params, buffers]);
    throw e;
  } finally {
    if (lossSum !== undefined) lossSum.dispose();
    if (correct !== undefined) correct.dispose();
    velocity?.dispose();
    yInt.dispose();
  }
}
