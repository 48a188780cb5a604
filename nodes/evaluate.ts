/**
 * `evaluate`: test accuracy of every seed of a `Model` on the real test split, in evaluation mode (no augmentation,
 * running statistics for batch norm). Metrics: `accuracy` (mean over seeds, %) and `accuracy_std` (population std,
 * as numpy's default that the reference code reports); the JSON output adds per-seed and per-class accuracy, the
 * confusion matrix summed over seeds, and the model's provenance (for the report's rows).
 */
import {defineNode} from './api.js';

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
    const {run} = await import('./evaluate-run.js');
    return run(ctx);
  },
});
