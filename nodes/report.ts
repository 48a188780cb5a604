/**
 * `report`: one Markdown and one HTML page for a pipeline: the results table across the grid (see report-table.ts),
 * a PNG grid of every synthetic set and a PNG of every distillation loss curve. A cache entry holds files, not
 * folders, so the outputs are `report` (Markdown, linking the PNGs written beside it as `report-*.png` in the same
 * entry) and `index` (one self-contained HTML page, `index.html`, the images embedded as data URIs, to open or mail
 * as it is).
 */
import {defineNode} from './api.js';

/** Params of {@link report}. */
export interface ReportParams {
  readonly title: string;
}

/** The node type. */
export const report = defineNode<ReportParams>({
  type: 'report',
  description: 'A Markdown + HTML report: results table across the grid, synthetic-set images, loss curves.',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {title: {type: 'string', default: 'distillery report', description: 'Page title.'}},
  },
  inputs: {
    evals: {kind: 'Metrics', many: true, description: 'evaluate outputs, e.g. [eval[*], evalRandom, evalPlain]'},
    sets: {kind: 'SyntheticSet', many: true, optional: true, description: 'sets to picture, e.g. distill[*].set'},
    curves: {kind: 'Metrics', many: true, optional: true, description: 'distillJoint loss curves, e.g. distill[*].curve'},
  },
  outputs: {
    report: {kind: 'Report', description: 'Markdown page; its PNG images are the report-*.png files beside it'},
    index: {kind: 'Report', description: 'self-contained HTML page, index.html (images embedded)'},
  },
  async run(ctx) {
    const {run} = await import('./report-run.js');
    return run(ctx);
  },
});
