/**
 * The implementation of `report` (see report.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import {writeFile} from 'node:fs/promises';
import {dirname, join} from 'node:path';
import {renderImageGrid} from '../ml/io/png-grid.js';
import {renderLinePlot} from '../ml/io/line-plot.js';
import type {InputValue, JsonValue, NodeContext} from './api.js';
import {inputPaths, readSyntheticSetArtifact} from './artifacts.js';
import {buildRows, fmt, rowCells, signed, tableColumns, type EvalSummary, type ReportRow} from './report-table.js';
import type {ReportParams} from './report.js';

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
  const figures: {title: string; file: string; note: string; png: Buffer}[] = [];

  const setPaths = inputPaths(ctx.inputs['sets'], 'sets');
  for (const [i, path] of setPaths.entries()) {
    ctx.signal.throwIfAborted();
    const s = await readSyntheticSetArtifact(path);
    const id = ctx.upstream?.['sets']?.[i]?.id ?? `sets[${i}]`;
    const file = `report-set-${i}-${slug(id)}.png`;
    const png = renderImageGrid(s.set, {scale: 2});
    await writeFile(join(dir, file), png);
    figures.push({title: `Images: ${id}`, file, png, note: `${s.set.n} images, one row per class; learned lr ${s.lr.toPrecision(3)}`});
    ctx.progress((0.8 * (i + 1)) / Math.max(1, setPaths.length));
  }
  const curves = jsonList(ctx.inputs['curves']);
  for (const [i, c] of curves.entries()) {
    const loss = (c as {loss?: unknown} | null)?.loss;
    if (!Array.isArray(loss) || loss.length === 0) continue;
    const values = loss.map((v) => (typeof v === 'number' ? v : Number.NaN));
    const id = ctx.upstream?.['curves']?.[i]?.id ?? `curves[${i}]`;
    const file = `report-curve-${i}-${slug(id)}.png`;
    const {png, layout} = renderLinePlot([{values}], {logY: true, width: 480, height: 240});
    await writeFile(join(dir, file), png);
    const first = values[0] ?? Number.NaN;
    const last = values[values.length - 1] ?? Number.NaN;
    figures.push({
      title: `Matching loss: ${id}`,
      file,
      png,
      note: `${values.length} iterations, log10 y from ${layout.yMin.toFixed(2)} to ${layout.yMax.toFixed(2)}; first ${first.toFixed(4)}, last ${last.toFixed(4)}`,
    });
  }

  const title = ctx.params.title;
  const summary = verdict(rows);
  const md = [
    `# ${title}`,
    '',
    summary,
    '',
    '## Results',
    '',
    'Test accuracy of students trained on each set (mean +- std over student seeds). "random subsets" is the mean over the',
    'random real subsets (draws) with the same images per class; one draw is a noisy baseline. "KD term helped" compares',
    'a variant with alpha > 0 with plain MTT (alpha = 0).',
    '',
    markdownTable(header, cells),
    '',
    ...figures.flatMap((f) => [`## ${f.title}`, '', `![${f.title}](${f.file})`, '', f.note, '']),
  ].join('\n');
  const html = [
    '<!doctype html>',
    `<html><head><meta charset="utf-8"><title>${escapeHtml(title)}</title>`,
    '<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #999;padding:3px 8px}' +
      'img{image-rendering:pixelated;border:1px solid #ccc}</style></head><body>',
    `<h1>${escapeHtml(title)}</h1>`,
    `<p>${escapeHtml(summary)}</p>`,
    '<h2>Results</h2>',
    htmlTable(header, cells),
    ...figures.map((f) => `<h2>${escapeHtml(f.title)}</h2>\n<img src="data:image/png;base64,${f.png.toString('base64')}" alt="${escapeHtml(f.title)}">\n<p>${escapeHtml(f.note)}</p>`),
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
