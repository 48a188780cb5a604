/**
 * The implementation of `evaluate` (see evaluate.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import * as tf from '@tensorflow/tfjs-core';
import {startBackend} from './start-backend.js';
import {toTensors} from '../ml/data/dataset.js';
import {evaluate as evaluateModel} from '../ml/evaluate.js';
import type {NodeContext} from './api.js';
import {inputPath, readDatasetArtifact, readModelArtifact} from './artifacts.js';
import {buildArch} from './build-arch.js';
import type {EvaluateParams, EvaluationReport} from './evaluate.js';
import {describeArch} from './model-spec.js';

/** Mean and population standard deviation. */
export function meanStd(values: readonly number[]): {mean: number; std: number} {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length);
  return {mean, std: Math.sqrt(variance)};
}

/** Runs one `evaluate` instance. */
export async function run(ctx: NodeContext<EvaluateParams>): Promise<void> {
  await startBackend(ctx);
  const m = await readModelArtifact(inputPath(ctx.inputs['model'], 'model'));
  const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
  const model = buildArch(m.arch);
  const {x, y} = toTensors(data.test);
  const accuracies: number[] = [];
  const classes = data.test.classes;
  const confusion = Array.from({length: classes}, () => new Array<number>(classes).fill(0));
  try {
    for (const [s, flat] of m.params.entries()) {
      const params = tf.tensor1d(flat);
      const buffers = tf.tensor1d(m.buffers[s] ?? new Float32Array(0));
      try {
        const ev = await evaluateModel(model, params, x, y, ctx.params.batchSize, {buffers, signal: ctx.signal});
        accuracies.push(100 * ev.accuracy);
        ev.confusion.forEach((row, t) => row.forEach((count, q) => {
          const r = confusion[t];
          if (r !== undefined) r[q] = (r[q] ?? 0) + count;
        }));
      } finally {
        tf.dispose([params, buffers]);
      }
      ctx.progress((s + 1) / m.params.length, {seed: s + 1});
    }
  } finally {
    tf.dispose([x, y]);
  }
  const {mean, std} = meanStd(accuracies);
  const perClass = confusion.map((row, c) => {
    const total = row.reduce((a, b) => a + b, 0);
    return total > 0 ? (100 * (row[c] ?? 0)) / total : 0;
  });
  ctx.metric('accuracy', mean);
  ctx.metric('accuracy_std', std);
  const report: EvaluationReport = {
    accuracy: mean,
    accuracy_std: std,
    accuracies,
    per_class: perClass,
    confusion,
    classNames: [...data.test.classNames],
    model: describeArch(m.arch),
    provenance: m.provenance,
  };
  ctx.write('metrics', JSON.parse(JSON.stringify(report)));
}
