/**
 * Run records travel with results: `push` uploads the summaries of the pushed pipelines' runs and `pull` brings them
 * into `.distillery/runs/`, so on a teammate's machine `plan --explain` knows which run produced an entry and compares
 * new keys with the last recorded ones, as it would on the machine that ran them.
 */
import {existsSync} from 'node:fs';
import {mkdir, readdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {RemoteStore} from '../cache/remote-store.js';
import {redact} from '../cache/secrets.js';
import {runsDir} from './run-record.js';

/** What moving run records did. */
export interface RunTransfer {
  readonly moved: number;
  readonly failed: ReadonlyArray<{readonly runId: string; readonly reason: string}>;
}

const RUN_ID = /^[0-9A-Za-z][0-9A-Za-z_.-]{0,127}$/;

function pipelineOf(text: string): string | undefined {
  try {
    const value = JSON.parse(text) as {pipeline?: unknown; nodes?: unknown};
    return typeof value.pipeline === 'string' && Array.isArray(value.nodes) ? value.pipeline : undefined;
  } catch {
    return undefined;
  }
}

/** Uploads the local run summaries of the named pipelines (all when `pipelines` is undefined) that the remote lacks. */
export async function pushRunRecords(remote: RemoteStore, cwd: string, pipelines: ReadonlySet<string> | undefined, env: NodeJS.ProcessEnv): Promise<RunTransfer> {
  let moved = 0;
  const failed: Array<{runId: string; reason: string}> = [];
  const ids = await readdir(runsDir(cwd)).catch(() => [] as string[]);
  for (const runId of ids.filter((id) => RUN_ID.test(id)).sort()) {
    const text = await readFile(join(runsDir(cwd), runId, 'summary.json'), 'utf8').catch(() => undefined);
    const pipeline = text === undefined ? undefined : pipelineOf(text);
    if (text === undefined || pipeline === undefined || (pipelines !== undefined && !pipelines.has(pipeline))) continue;
    try {
      if (await remote.putRunRecord(pipeline, runId, text)) moved++;
    } catch (error) {
      failed.push({runId, reason: redact(error instanceof Error ? error.message : String(error), env)});
    }
  }
  return {moved, failed};
}

/** Downloads the remote's run summaries of the named pipelines (all when undefined) that are not here yet. */
export async function pullRunRecords(remote: RemoteStore, cwd: string, pipelines: ReadonlySet<string> | undefined, env: NodeJS.ProcessEnv): Promise<RunTransfer> {
  let moved = 0;
  const failed: Array<{runId: string; reason: string}> = [];
  let names: string[];
  try {
    names = pipelines === undefined ? await remote.runPipelines() : [...pipelines];
  } catch (error) {
    return {moved, failed: [{runId: '*', reason: redact(error instanceof Error ? error.message : String(error), env)}]};
  }
  for (const name of names.sort()) {
    try {
      for (const runId of await remote.runIds(name)) {
        const target = join(runsDir(cwd), runId, 'summary.json');
        if (existsSync(target)) continue;
        const text = await remote.runRecord(name, runId);
        // A record that does not parse as a summary is not written: history readers skip such files anyway.
        if (text === undefined || pipelineOf(text) !== name) continue;
        await mkdir(join(runsDir(cwd), runId), {recursive: true});
        await writeFile(target, text);
        moved++;
      }
    } catch (error) {
      failed.push({runId: `${name}/*`, reason: redact(error instanceof Error ? error.message : String(error), env)});
    }
  }
  return {moved, failed};
}
