/**
 * The comparison of two run records (`distillery diff A B`, like `dvc params diff` + `dvc metrics diff`): the settings
 * that differ (overrides, pipeline params and grid, each node's resolved params, code and environment, the machine)
 * and every metric of the result instances of either run, with B - A.
 */
import type {JsonValue} from '../nodes/api.js';
import {canonicalJson} from './canonical-json.js';
import {recordedResults} from './result-rows.js';
import type {RunSummary} from './run-record.js';
import type {Cell, Table} from './table.js';

/** What a diff row is about. */
export type DiffSection = 'setting' | 'metric';

/** The columns of the diff table. */
export const DIFF_COLUMNS = ['section', 'instance', 'name', 'a', 'b', 'delta'] as const;

function text(value: unknown): string {
  if (value === undefined) return '';
  if (typeof value === 'string') return value;
  const json = canonicalJson((value ?? null) as JsonValue);
  return json.ok ? json.value : String(value);
}

function settingRows(a: RunSummary, b: RunSummary): Record<string, Cell>[] {
  const rows: Record<string, Cell>[] = [];
  const add = (name: string, x: unknown, y: unknown, instance?: string): void => {
    if (text(x) !== text(y)) rows.push({section: 'setting', instance, name, a: text(x), b: text(y)});
  };
  add('pipeline', a.pipeline, b.pipeline);
  add('overrides', (a.overrides ?? []).join(' '), (b.overrides ?? []).join(' '));
  for (const [prefix, x, y] of [['params', a.params ?? {}, b.params ?? {}], ['grid', a.grid ?? {}, b.grid ?? {}]] as const) {
    for (const key of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      add(`${prefix}.${key}`, (x as Record<string, unknown>)[key], (y as Record<string, unknown>)[key]);
    }
  }
  // Node params, code and environment, per node name: one row for each change that all its instances share, so a
  // changed `params.width` reads as a few lines and not one per instance.
  const before = new Map(a.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  for (const node of b.nodes) {
    const old = before.get(node.id);
    if (old === undefined) continue;
    const name = node.id.replace(/[[{].*$/, '');
    const change = (what: string, x: unknown, y: unknown): void => {
      const row = {section: 'setting', instance: name, name: what, a: text(x), b: text(y)} as const;
      const id = JSON.stringify(row);
      if (row.a === row.b || seen.has(id)) return;
      seen.add(id);
      rows.push(row);
    };
    const p = old.keyParts.params;
    const q = node.keyParts.params;
    for (const key of [...new Set([...Object.keys(p), ...Object.keys(q)])].sort()) change(`with.${key}`, p[key], q[key]);
    if (old.keyParts.implementation !== node.keyParts.implementation) change('code', 'before', 'changed');
    for (const key of [...new Set([...Object.keys(old.keyParts.environment), ...Object.keys(node.keyParts.environment)])].sort()) {
      change(`environment.${key}`, old.keyParts.environment[key], node.keyParts.environment[key]);
    }
  }
  const onlyIn = (x: RunSummary, y: RunSummary): string => {
    const ids = new Set(y.nodes.map((n) => n.id));
    return x.nodes.filter((n) => !ids.has(n.id)).map((n) => n.id).join(' ');
  };
  const onlyA = onlyIn(a, b);
  const onlyB = onlyIn(b, a);
  if (onlyA !== '' || onlyB !== '') rows.push({section: 'setting', name: 'instances only in one run', a: onlyA, b: onlyB});
  for (const key of ['hostname', 'cpus', 'backend', 'node'] as const) add(`machine.${key}`, a.machine?.[key], b.machine?.[key]);
  add('version', a.version, b.version);
  return rows;
}

function metricRows(a: RunSummary, b: RunSummary): Record<string, Cell>[] {
  const ra = new Map(recordedResults(a).map((r) => [r.id, r]));
  const rb = new Map(recordedResults(b).map((r) => [r.id, r]));
  const rows: Record<string, Cell>[] = [];
  for (const id of [...new Set([...ra.keys(), ...rb.keys()])]) {
    const x = ra.get(id)?.metrics ?? {};
    const y = rb.get(id)?.metrics ?? {};
    for (const metric of [...new Set([...Object.keys(x), ...Object.keys(y)])].sort()) {
      const va = x[metric];
      const vb = y[metric];
      rows.push({section: 'metric', instance: id, name: metric, a: va, b: vb, delta: va !== undefined && vb !== undefined ? vb - va : undefined});
    }
  }
  return rows;
}

/** The diff of two runs as one table: the settings rows first, then the metric rows. */
export function diffRuns(a: RunSummary, b: RunSummary): Table {
  return {columns: DIFF_COLUMNS, rows: [...settingRows(a, b), ...metricRows(a, b)]};
}
