/**
 * `evaluate`: test accuracy of every seed of a `Model` on the real test split, in evaluation mode (no augmentation,
 * running statistics for batch norm). Metrics: `accuracy` (mean over seeds, %) and `accuracy_std` (population std,
 * as numpy's default that the reference code reports); the JSON output adds per-seed and per-class accuracy, the
 * confusion matrix summed over seeds, and the model's provenance (for the report's rows).
 */
import * as tf from '@tensorflow/tfjs';
import {initBackend} from '../ml/backend.js';
import {toTensors} from '../ml/data/dataset.js';
import {evaluate as evaluateModel} from '../ml/evaluate.js';
import {defineNode} from './api.js';
import {inputPath, readDatasetArtifact, readModelArtifact} from './artifacts.js';
import {buildArch, describeArch} from './model-spec.js';

/** Params of {@link evaluate}. */
export interface EvaluateParams {
  readonly batchSize: number;
}

/** What the `metrics` output holds (also read by the report node). */
export interface EvaluationReport {
  readonly accuracy: number;
  readonly accuracy_std: number;
  readonly accuracies: number[];
  readonly per_class: number[];
  readonly confusion: number[][];
  readonly classNames: string[];
  readonly model: string;
  readonly provenance: Record<string, unknown>;
}

/** Mean and population standard deviation. */
export function meanStd(values: readonly number[]): {mean: number; std: number} {
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const variance = values.reduce((a, v) => a + (v - mean) ** 2, 0) / Math.max(1, values.length);
  return {mean, std: Math.sqrt(variance)};
}

/** The node type. */
export const evaluate = defineNode<EvaluateParams>({
  type: 'evaluate',
  description: 'Test accuracy (mean and std over the model\'s seeds), per-class accuracy and the confusion matrix.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {batchSize: {type: 'integer', minimum: 1, default: 500, description: 'Test images per forward pass.'}},
  },
  inputs: {model: {kind: 'Model'}, data: {kind: 'Dataset'}},
  outputs: {metrics: {kind: 'Metrics', description: 'JSON: accuracy, accuracy_std, accuracies, per_class, confusion, provenance'}},
  resources: {gpu: 1},
  async run(ctx) {
    await initBackend();
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
  },
});
