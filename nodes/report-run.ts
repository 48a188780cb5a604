/**
 * The implementation of `report` (see report.ts), loaded only when an instance runs: analysing a pipeline (validate,
 * plan, a cached no-op run) then loads no TensorFlow.js, nor the chart libraries.
 *
 * Every figure is drawn once as SVG (inlined in the HTML page, which stays one self-contained file) and rasterised
 * to a `report-*.png` beside the Markdown page.
 */
import {writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import type {TopLevelSpec} from 'vega-lite';
import type {InputValue, JsonValue, NodeContext} from './api.js';
import {inputPaths, readSyntheticSetArtifact} from './artifacts.js';
import {accuracyBarsChart, accuracyHeatmap, learnedLrChart, lossCurvesChart, type CurveSeries} from './report-charts.js';
import {labelledGridSvg} from './report-image-grid.js';
import {chartSvg, svgToPng} from './report-render.js';
import {buildRows, fmt, rowCells, signed, tableColumns, type EvalSummary, type ReportRow} from './report-table.js';
import {RUN_HEADER_MARKER, type ReportParams} from './report.js';

function jsonList(value: InputValue | readonly InputValue[] | undefined): JsonValue[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? [...(value as JsonValue[])] : [value as JsonValue];
}

function asEval(value: JsonValue, i: number): EvalSummary {
  const v = value as Partial<EvalSummary> | null;
  if (v === null || typeof v !== 'object' || typeof v.accuracy !== 'number') {
    throw new Error(`report: evals[${i}] is not an evaluate output (no "accuracy")`);
  }
  return {accuracy: v.accuracy, accuracy_std: typeof v.accuracy_std === 'number' ? v.accuracy_std : 0, ...v};
}

/** A file-name-safe form of an instance id: `distill{T=1,alpha=0.3}` -> `distill_T-1_alpha-0.3`. */
export function slug(id: string): string {
  return id.replace(/[{}[\]]/g, '_').replace(/=/g, '-').replace(/,/g, '_').replace(/[^A-Za-z0-9._-]/g, '').replace(/_+$/, '');
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function markdownTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function htmlTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const head = `<tr>${header.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${escapeHtml(c)}</td>`).join('')}</tr>`).join('\n');
  return `<table>\n${head}\n${body}\n</table>`;
}

/** One-paragraph verdict: the best distilled variant against the random subset and against plain MTT. */
export function verdict(rows: readonly ReportRow[]): string {
  const distilled = rows.filter((r) => r.kind === 'distilled');
  if (distilled.length === 0) return 'No distilled set was evaluated.';
  const best = distilled.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const parts = [`Best distilled set: ${best.id} (${best.what}) at ${fmt(best.accuracy)}% +- ${fmt(best.std)}.`];
  if (best.random !== undefined) {
    const draws = best.randomDraws === 1 ? 'one random subset' : `random subsets (mean of ${best.randomDraws} draws)`;
    parts.push(`Students on ${draws} of the same size reach ${fmt(best.random)}% (${signed(best.accuracy - best.random)} points).`);
  }
  const kd = distilled.filter((r) => r.kdGain !== undefined);
  if (kd.length > 0) {
    const helped = kd.filter((r) => (r.kdGain ?? 0) > 0).length;
    parts.push(`The KD term (alpha > 0) beat plain MTT (alpha = 0) in ${helped} of ${kd.length} variants.`);
  }
  return parts.join(' ');
}

/** One figure of the report. */
interface Figure {
  readonly title: string;
  /** The PNG's file name beside the Markdown page. */
  readonly file: string;
  readonly note: string;
  readonly svg: string;
  /** Rasterising zoom: 2 for charts (sharp text); 1 for image grids, whose pixels are already enlarged. */
  readonly zoom: number;
}

function curveOf(value: JsonValue, id: string): CurveSeries | undefined {
  const numbers = (v: unknown): number[] => (Array.isArray(v) ? v.map((x) => (typeof x === 'number' ? x : Number.NaN)) : []);
  const c = value as {loss?: unknown; syn_lr?: unknown} | null;
  const loss = numbers(c?.loss);
  return loss.length === 0 ? undefined : {id, loss, synLr: numbers(c?.syn_lr)};
}

function sentence(curves: readonly CurveSeries[]): string {
  return curves
    .map((c) => `${c.id}: ${c.loss.length} iterations, loss ${fmt(c.loss[0], 4)} -> ${fmt(c.loss[c.loss.length - 1], 4)}`)
    .join('; ');
}

/** Runs one `report` instance. */
export async function run(ctx: NodeContext<ReportParams>): Promise<void> {
  const mdFile = ctx.file('report', '.md');
  const htmlFile = ctx.file('index', '.html');
  // The images go beside the Markdown (same entry), so its relative links resolve in the cache and in a copy.
  const dir = dirname(mdFile);
  const evals = jsonList(ctx.inputs['evals']).map(asEval);
  const rows = buildRows(evals, ctx.upstream?.['evals']);
  const {gridKeys, header} = tableColumns(rows);
  const cells = rows.map((r) => rowCells(r, gridKeys));
  const figures: Figure[] = [];
  const chart = async (title: string, file: string, note: string, spec: TopLevelSpec): Promise<void> => {
    ctx.signal.throwIfAborted();
    figures.push({title, file, note, svg: await chartSvg(spec, `fig${figures.length}-`), zoom: 2});
  };

  if (rows.length > 0) {
    await chart('Accuracy of every set', 'report-accuracy.png',
      'Bars: mean test accuracy of the students trained on each set; whiskers: +- one standard deviation over their seeds ' +
        '(for a row over n > 1 instances of a repeated node, such as evalRandom[*]: over those instances).',
      accuracyBarsChart(rows));
  }
  const heatmap = accuracyHeatmap(rows);
  if (heatmap !== undefined) {
    await chart('Accuracy across the grid', 'report-grid.png',
      'Each cell is one distilled variant (mean +- std over student seeds); the baselines column uses the same colour scale.',
      heatmap);
  }
  ctx.progress(0.2);
  const curves = jsonList(ctx.inputs['curves']).flatMap((c, i) => curveOf(c, ctx.upstream?.['curves']?.[i]?.id ?? `curves[${i}]`) ?? []);
  if (curves.length > 0) {
    await chart('Matching loss', 'report-loss.png', sentence(curves) + '.', lossCurvesChart(curves));
    if (curves.some((c) => c.synLr.length > 0)) {
      await chart('Learned learning rate', 'report-lr.png', 'The student learning rate each distillation learns along with the images.', learnedLrChart(curves));
    }
  }
  ctx.progress(0.4);
  const setPaths = inputPaths(ctx.inputs['sets'], 'sets');
  for (const [i, path] of setPaths.entries()) {
    ctx.signal.throwIfAborted();
    const s = await readSyntheticSetArtifact(path);
    const id = ctx.upstream?.['sets']?.[i]?.id ?? `sets[${i}]`;
    figures.push({
      title: `Images: ${id}`,
      file: `report-set-${i}-${slug(id)}.png`,
      note: `${s.set.n} images, one row per class (named on the left); learned lr ${s.lr.toPrecision(3)}.`,
      svg: labelledGridSvg(s.set),
      zoom: 1,
    });
    ctx.progress(0.4 + (0.3 * (i + 1)) / Math.max(1, setPaths.length));
  }
  for (const [i, f] of figures.entries()) {
    ctx.signal.throwIfAborted();
    await writeFile(join(dir, f.file), await svgToPng(f.svg, f.zoom));
    ctx.progress(0.7 + (0.3 * (i + 1)) / figures.length);
  }

  const title = ctx.params.title;
  const summary = verdict(rows);
  const md = [
    `# ${title}`,
    '',
    RUN_HEADER_MARKER,
    '',
    summary,
    '',
    '## Results',
    '',
    'Test accuracy of students trained on each set (mean +- std over student seeds). A row over the n > 1 instances of a',
    'repeated node (e.g. evalRandom[*], one per random draw) is the mean +- std over those instances, whose own means the n',
    'column lists. "random subsets" is the mean over all the random real subsets (draws) with the same images per class;',
    'one draw is a noisy baseline. "KD term helped" compares a variant with alpha > 0 with plain MTT (alpha = 0).',
    '',
    markdownTable(header, cells),
    '',
    ...figures.flatMap((f) => [`## ${f.title}`, '', `![${f.title}](${f.file})`, '', f.note, '']),
  ].join('\n');
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:"DejaVu Sans",Verdana,sans-serif;margin:2em;max-width:1200px;color:#222}' +
      'table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #999;padding:3px 8px;text-align:left}' +
      'figure{margin:2em 0}figure svg{max-width:100%;height:auto;display:block}figcaption{color:#555;margin-top:.4em}' +
      'table.run th{background:#f3f3f3}</style></head><body>',
    `<h1>${escapeHtml(title)}</h1>`,
    RUN_HEADER_MARKER,
    `<p>${escapeHtml(summary)}</p>`,
    '<h2>Results</h2>',
    htmlTable(header, cells),
    ...figures.map(
      (f) =>
        `<figure class="chart" data-file="${escapeHtml(f.file)}">\n<h2>${escapeHtml(f.title)}</h2>\n${f.svg.replace(/^<\?xml[^>]*>\s*/, '')}\n` +
        `<figcaption>${escapeHtml(f.note)}</figcaption>\n</figure>`,
    ),
    '</body></html>',
  ].join('\n');
  await writeFile(mdFile, md + '\n');
  await writeFile(htmlFile, html + '\n');
  const distilled = rows.filter((r) => r.kind === 'distilled');
  if (distilled.length > 0) {
    const best = distilled.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
    ctx.metric('best_accuracy', best.accuracy);
    if (best.random !== undefined) ctx.metric('best_gain_over_random', best.accuracy - best.random);
  }
  ctx.metric('rows', rows.length);
  ctx.progress(1);
}
