/** Shared by push, pull and `remote ls`: the instances (id and key) of the pipelines named on the command line. */
import {resolve} from 'node:path';
import type {CommandIO} from './command.js';
import {analyzeOrReport} from './analyze-or-report.js';

/** An instance to move: its id (for messages) and key. */
export interface KeyedInstance {
  readonly id: string;
  readonly key: string;
}

/** The pipelines' instances (deduplicated by key, plan order) and names; undefined after diagnostics on stderr. */
export async function pipelineKeys(
  files: readonly string[],
  sets: readonly string[],
  io: CommandIO,
): Promise<{instances: KeyedInstance[]; names: Set<string>} | undefined> {
  const instances: KeyedInstance[] = [];
  const seen = new Set<string>();
  const names = new Set<string>();
  for (const file of files) {
    const plan = await analyzeOrReport(resolve(io.cwd, file), sets, io);
    if (plan === undefined) return undefined;
    names.add(plan.name);
    for (const id of plan.order) {
      const key = plan.nodes.get(id)?.key;
      if (key === undefined || seen.has(key)) continue;
      seen.add(key);
      instances.push({id, key});
    }
  }
  return {instances, names};
}
