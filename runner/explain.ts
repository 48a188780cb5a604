/**
 * Why an instance will run: its KeyParts compared with those recorded the last time it ran (param X changed, an
 * input's upstream changed, the node type's code changed, the environment changed, or it never ran before).
 */
import {canonicalJson} from './canonical-json.js';
import type {PlannedNode} from './plan.js';
import type {RecordedInstance} from './run-history.js';

function show(value: unknown): string {
  if (value === undefined) return 'unset';
  const json = canonicalJson(value);
  const text = json.ok ? json.value : String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function same(a: unknown, b: unknown): boolean {
  const x = canonicalJson(a);
  const y = canonicalJson(b);
  return x.ok && y.ok && x.value === y.value;
}

function diffRecords(label: string, before: Readonly<Record<string, unknown>>, after: Readonly<Record<string, unknown>>): string[] {
  const names = [...new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])].sort();
  return names
    .filter((n) => !same(before?.[n], after?.[n]))
    .map((n) => `${label} ${n} changed (${show(before?.[n])} -> ${show(after?.[n])})`);
}

/**
 * The reasons `node` must run given what was last recorded for its id. Empty when the recorded key equals the
 * current one (the caller then says whether the entry is cached or has gone missing).
 */
export function explainChange(node: PlannedNode, previous: RecordedInstance | undefined): string[] {
  if (previous === undefined) return ['never run before'];
  if (previous.key === node.key) return [];
  const before = previous.keyParts;
  const after = node.keyParts;
  const reasons: string[] = [];
  if (before.type !== after.type) reasons.push(`type changed (${before.type} -> ${after.type})`);
  else if (before.implementation !== after.implementation) reasons.push(`code of type ${after.type} changed`);
  reasons.push(...diffRecords('param', before.params, after.params));
  if (before.seed !== after.seed) reasons.push(`seed changed (${before.seed} -> ${after.seed})`);
  const ports = [...new Set([...Object.keys(before.inputs ?? {}), ...Object.keys(after.inputs ?? {})])].sort();
  for (const port of ports) {
    const old = before.inputs?.[port] ?? [];
    const now = after.inputs[port] ?? [];
    if (same(old, now)) continue;
    const from = node.inputs.find((i) => i.port === port)?.from ?? [];
    const changed = now.map((k, i) => (k === old[i] ? undefined : from[i])).filter((id) => id !== undefined);
    reasons.push(
      changed.length > 0 && old.length === now.length
        ? `input ${port} changed (upstream ${changed.join(', ')} has a new key)`
        : `input ${port} changed`,
    );
  }
  reasons.push(...diffRecords('environment', before.environment, after.environment));
  return reasons.length > 0 ? reasons : ['its key changed'];
}
