/**
 * Reads past run records (`<cwd>/.distillery/runs/<run-id>/summary.json`, written by `distillery run`) to find, for
 * each instance id, what it was keyed by the last time it appeared, so `plan --explain` can say what changed.
 */
import {readdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {KeyParts} from './plan.js';
import {runsDir} from './run-record.js';

/** What a past run recorded about one instance. */
export interface RecordedInstance {
  readonly runId: string;
  readonly key: string;
  readonly keyParts: KeyParts;
  /** `cached`, `ran`, `failed` or `skipped`, as recorded. */
  readonly status: string;
}

function isRecordedNode(value: unknown): value is {id: string; key: string; keyParts: KeyParts; status: string} {
  const v = value as {id?: unknown; key?: unknown; keyParts?: unknown; status?: unknown} | null;
  return v !== null && typeof v === 'object' && typeof v.id === 'string' && typeof v.key === 'string' &&
    v.keyParts !== null && typeof v.keyParts === 'object' && typeof v.status === 'string';
}

/**
 * The readable run records' node lists, newest first (run ids sort chronologically), at most `limit` records.
 * Unreadable or malformed records are passed over: history only improves what is shown, it never blocks a command.
 */
async function* recordedRuns(cwd: string, limit = Infinity): AsyncGenerator<{runId: string; nodes: unknown[]}> {
  let runIds: string[];
  try {
    runIds = (await readdir(runsDir(cwd), {withFileTypes: true})).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch {
    return;
  }
  for (const runId of runIds.sort().reverse().slice(0, limit)) {
    let summary: unknown;
    try {
      summary = JSON.parse(await readFile(join(runsDir(cwd), runId, 'summary.json'), 'utf8'));
    } catch {
      continue;
    }
    const nodes = (summary as {nodes?: unknown} | null)?.nodes;
    if (Array.isArray(nodes)) yield {runId, nodes: nodes as unknown[]};
  }
}

/**
 * For each id in `ids`, the most recent run record that contains it. Run ids sort chronologically, so records are
 * read newest first and reading stops once every id is found. Unreadable or malformed records are skipped: history
 * only improves explanations, it never blocks planning.
 */
export async function lastRecorded(cwd: string, ids: ReadonlySet<string>): Promise<Map<string, RecordedInstance>> {
  const found = new Map<string, RecordedInstance>();
  for await (const {runId, nodes} of recordedRuns(cwd)) {
    if (found.size === ids.size) break;
    for (const node of nodes) {
      if (!isRecordedNode(node) || !ids.has(node.id) || found.has(node.id)) continue;
      found.set(node.id, {runId, key: node.key, keyParts: node.keyParts, status: node.status});
    }
  }
  return found;
}

/**
 * For each key in `keys`, the most recent run record in which an instance with that key ran (was computed, not taken
 * from a cache): the run that produced the entry. Records pulled from a remote count, so this names runs on other
 * machines too.
 */
export async function producingRuns(cwd: string, keys: ReadonlySet<string>): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  for await (const {runId, nodes} of recordedRuns(cwd)) {
    if (found.size === keys.size) break;
    for (const node of nodes) {
      if (!isRecordedNode(node) || node.status !== 'ran' || !keys.has(node.key) || found.has(node.key)) continue;
      found.set(node.key, runId);
    }
  }
  return found;
}

/** How long instances took when they ran, as run records tell it: by key, and by node type. */
export interface RecordedDurations {
  /** Seconds of the most recent computation of each key. */
  readonly byKey: ReadonlyMap<string, number>;
  /** Seconds of recent computations of each type, newest first. */
  readonly byType: ReadonlyMap<string, readonly number[]>;
}

/** Records read at most for durations: enough for a good median, bounded so a long history costs nothing. */
const DURATION_RECORDS = 20;
/** Durations kept per type. */
const DURATION_SAMPLES = 50;

/**
 * The durations of the computations (`ran`) of `types` in the most recent run records, newest first, for progress
 * estimates. Reading stops after DURATION_RECORDS records or once each type has DURATION_SAMPLES durations.
 */
export async function recordedDurations(cwd: string, types: ReadonlySet<string>): Promise<RecordedDurations> {
  const byKey = new Map<string, number>();
  const byType = new Map<string, number[]>();
  const full = (): boolean => [...types].every((t) => (byType.get(t)?.length ?? 0) >= DURATION_SAMPLES);
  for await (const {nodes} of recordedRuns(cwd, DURATION_RECORDS)) {
    if (full()) break;
    for (const node of nodes) {
      const n = node as {key?: unknown; type?: unknown; status?: unknown; seconds?: unknown} | null;
      if (n === null || typeof n !== 'object' || n.status !== 'ran' || typeof n.seconds !== 'number' || !Number.isFinite(n.seconds)) continue;
      if (typeof n.key === 'string' && !byKey.has(n.key)) byKey.set(n.key, n.seconds);
      if (typeof n.type !== 'string' || !types.has(n.type)) continue;
      const samples = byType.get(n.type) ?? [];
      if (samples.length < DURATION_SAMPLES) samples.push(n.seconds);
      byType.set(n.type, samples);
    }
  }
  return {byKey, byType};
}
