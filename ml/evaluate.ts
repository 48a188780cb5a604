/**
 * Test-set evaluation of a flat-parameter model: accuracy, per-class accuracy and the confusion matrix.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {FunctionalModel} from './model.js';
import {isStateful} from './stateful-model.js';

/** What {@link evaluate} measures. */
export interface Evaluation {
  /** Fraction of correctly classified samples, in [0, 1]. */
  readonly accuracy: number;
  /** Per true class: the fraction classified correctly (NaN for a class with no samples). */
  readonly perClassAccuracy: readonly number[];
  /** confusion[true][predicted] = count. */
  readonly confusion: readonly (readonly number[])[];
  /** Number of samples evaluated. */
  readonly count: number;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Running statistics of a stateful model (batch norm): with them, evaluation uses eval mode. */
  readonly buffers?: tf.Tensor1D;
  readonly signal?: AbortSignal;
}

/** Logits of `x` in evaluation mode: forwardEval with buffers when the model has state, else the plain forward. */
export function predictLogits(
  model: FunctionalModel,
  params: tf.Tensor1D,
  x: tf.Tensor4D,
  buffers?: tf.Tensor1D,
): tf.Tensor2D {
  if (buffers !== undefined && isStateful(model) && model.numBuffers > 0) return model.forwardEval(params, buffers, x);
  return model.forward(params, x);
}

/**
 * Classifies `x` ([N,H,W,C], float32) in batches of `batchSize` and compares with `y` (int32 [N]).
 * Without buffers a batch-norm model normalises with batch statistics. Throws the signal's reason when aborted.
 */
export async function evaluate(
  model: FunctionalModel,
  params: tf.Tensor1D,
  x: tf.Tensor4D,
  y: tf.Tensor1D,
  batchSize: number,
  options: EvaluateOptions = {},
): Promise<Evaluation> {
  const n = x.shape[0];
  if (y.shape[0] !== n) throw new Error(`evaluate: ${n} images but ${y.shape[0]} labels`);
  if (!(batchSize >= 1)) throw new Error(`evaluate: batch size must be >= 1, got ${batchSize}`);
  const labels = await y.data();
  let confusion: number[][] | undefined;
  let correct = 0;
  for (let start = 0; start < n; start += batchSize) {
    options.signal?.throwIfAborted();
    const size = Math.min(batchSize, n - start);
    const pred = tf.tidy(() => {
      const xb = tf.slice(x, [start, 0, 0, 0], [size, -1, -1, -1]);
      const logits = predictLogits(model, params, xb, options.buffers);
      confusion ??= Array.from({length: logits.shape[1]}, () => new Array<number>(logits.shape[1]).fill(0));
      return tf.argMax(logits, 1);
    });
    const p = await pred.data();
    pred.dispose();
    for (let i = 0; i < size; i++) {
      const t = labels[start + i]!;
      const row = confusion?.[t];
      if (row === undefined) throw new Error(`evaluate: label ${t} is outside the model's classes`);
      row[p[i]!] = (row[p[i]!] ?? 0) + 1;
      if (p[i] === t) correct++;
    }
  }
  const table = confusion ?? [];
  return {
    accuracy: n > 0 ? correct / n : Number.NaN,
    perClassAccuracy: table.map((row, c) => {
      const total = row.reduce((a, b) => a + b, 0);
      return total > 0 ? (row[c] ?? 0) / total : Number.NaN;
    }),
    confusion: table,
    count: n,
  };
}
