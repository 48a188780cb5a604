/**
 * `report`: one Markdown and one HTML page for a pipeline: the results table across the grid (see report-table.ts),
 * charts drawn with Vega-Lite (accuracy bars with error bars, an accuracy heatmap over the grid with the baselines on
 * the same scale, all matching-loss curves on one chart, the learned lr) and a labelled image grid of every
 * synthetic set. A cache entry holds files, not folders, so the outputs are `report` (Markdown, linking the PNGs
 * written beside it as `report-*.png` in the same entry) and `index` (one self-contained HTML page, `index.html`,
 * the charts inlined as SVG, to open or mail as it is).
 */
import {defineNode} from './api.js';

/**
 * Where a report page wants the run's header (pipeline, run id, date, overrides, params). A cached report is shared
 * by every run with the same inputs, so the node cannot know the run; `distillery run` fills the header in when it
 * publishes the pages (an HTML comment, invisible if a page is opened from the cache).
 */
export const RUN_HEADER_MARKER = '<!-- distillery:run-header -->';

/** Params of {@link report}. */
export interface ReportParams {
  readonly title: string;
}

/** The node type. */
export const report = defineNode<ReportParams>({
  type: 'report',
  description: 'A Markdown + HTML report: results table, accuracy charts and heatmap, loss curves, labelled synthetic-set images.',
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
