/**
 * Reading run records back (`.distillery/runs/<run-id>/summary.json`) for `runs`, `results --runs` and `diff`.
 * Records are read tolerantly: an unreadable or malformed one is reported by id and left out, never fatal, since a
 * half-written record of a killed run must not hide every other run.
 */
import {readdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {RunSummary} from './run-record.js';
import {runsDir} from './run-record.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/** The records found, oldest first, and the run folders that could not be read. */
export interface RunRecords {
  readonly runs: readonly RunSummary[];
  readonly unreadable: readonly {readonly runId: string; readonly reason: string}[];
}

function isSummary(value: unknown): value is RunSummary {
  const v = value as Partial<RunSummary> | null;
  return v !== null && typeof v === 'object' && typeof v.runId === 'string' && typeof v.pipeline === 'string' &&
    typeof v.startedAt === 'string' && Array.isArray(v.nodes);
}

/** Every run record under `cwd`, oldest first (run ids sort chronologically). */
export async function readRunRecords(cwd: string): Promise<RunRecords> {
  let names: string[];
  try {
    names = (await readdir(runsDir(cwd), {withFileTypes: true})).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return {runs: [], unreadable: []};
  }
  const runs: RunSummary[] = [];
  const unreadable: {runId: string; reason: string}[] = [];
  for (const runId of names) {
    let text: string;
    try {
      text = await readFile(join(runsDir(cwd), runId, 'summary.json'), 'utf8');
    } catch {
      // A run that is still going, or was killed before it finished, has events but no summary yet.
      unreadable.push({runId, reason: 'no summary.json (still running, or killed)'});
      continue;
    }
    try {
      const parsed: unknown = JSON.parse(text);
      if (isSummary(parsed)) runs.push(parsed);
      else unreadable.push({runId, reason: 'summary.json is not a run summary'});
    } catch {
      unreadable.push({runId, reason: 'summary.json is not valid JSON'});
    }
  }
  return {runs, unreadable};
}

/**
 * The runs named by `specs`, in the order named: a full run id, a unique prefix of one, `latest`, or `latest~N`
 * (the Nth run before the latest). `all` names every run. A message when a name matches no run or several.
 */
export function selectRuns(runs: readonly RunSummary[], specs: readonly string[]): Result<RunSummary[], string> {
  const chosen: RunSummary[] = [];
  for (const spec of specs) {
    if (spec === 'all') {
      chosen.push(...runs);
      continue;
    }
    const back = /^latest(?:~(\d+))?$/.exec(spec);
    if (back !== null) {
      const run = runs[runs.length - 1 - Number(back[1] ?? 0)];
      if (run === undefined) return fail(`there is no run '${spec}': ${runs.length} run record${runs.length === 1 ? '' : 's'} found`);
      chosen.push(run);
      continue;
    }
    const exact = runs.find((r) => r.runId === spec);
    const matching = exact === undefined ? runs.filter((r) => r.runId.startsWith(spec)) : [exact];
    if (matching.length === 0) return fail(`no run record '${spec}' (see distillery runs)`);
    if (matching.length > 1) return fail(`'${spec}' matches ${matching.length} runs; give more of the id`);
    chosen.push(...matching);
  }
  // One run named twice (`all` and an id) is shown once.
  return ok([...new Map(chosen.map((r) => [r.runId, r])).values()]);
}

/** Seconds from start to finish of a run. */
export function runSeconds(run: RunSummary): number {
  return (Date.parse(run.finishedAt) - Date.parse(run.startedAt)) / 1000;
}
