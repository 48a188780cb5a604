/**
 * The run header of a published report page: pipeline, run id, date, overrides and the pipeline's params and grid.
 * The report node leaves a marker where it goes (a cached page is shared by every run with the same inputs, so only
 * the run that publishes it knows these); `distillery run` writes the header there when it copies the page out.
 */
import type {JsonValue} from '../nodes/api.js';
import {RUN_HEADER_MARKER} from '../nodes/report.js';

/** What the header says. */
export interface RunHeader {
  readonly pipeline: string;
  /** The pipeline file, as the user named it (relative to the working directory when inside it). */
  readonly file: string;
  readonly runId: string;
  readonly date: Date;
  readonly overrides: readonly string[];
  readonly params: Readonly<Record<string, JsonValue>>;
  readonly grid: Readonly<Record<string, readonly JsonValue[]>>;
}

function show(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : JSON.stringify(value ?? null);
}

function lines(header: RunHeader): [string, string][] {
  const params = Object.entries(header.params).map(([k, v]) => `${k} = ${show(v)}`).join(', ');
  const grid = Object.entries(header.grid).map(([k, v]) => `${k} in [${v.map(show).join(', ')}]`).join(', ');
  return [
    ['pipeline', `${header.pipeline} (${header.file})`],
    ['run', header.runId],
    ['date', `${header.date.toISOString().replace('T', ' ').replace(/\.\d+Z$/, '')} UTC`],
    ['overrides', header.overrides.length === 0 ? 'none' : header.overrides.map((o) => `--set ${o}`).join(' ')],
    ['params', params === '' ? 'none' : params],
    ['grid', grid === '' ? 'none' : grid],
  ];
}

function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** The page with its marker replaced by the header (unchanged when it has no marker). */
export function stampReport(text: string, format: 'md' | 'html', header: RunHeader): string {
  if (!text.includes(RUN_HEADER_MARKER)) return text;
  const rows = lines(header);
  const block =
    format === 'md'
      ? ['| run | |', '| --- | --- |', ...rows.map(([k, v]) => `| ${k} | ${v.replace(/\|/g, '\\|')} |`)].join('\n')
      : `<table class="run">\n${rows.map(([k, v]) => `<tr><th>${escapeHtml(k)}</th><td>${escapeHtml(v)}</td></tr>`).join('\n')}\n</table>`;
  return text.replace(RUN_HEADER_MARKER, block);
}
