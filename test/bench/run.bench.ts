/**
 * No-op run speed: a generated pipeline of 1,001 toy instances is run once to fill the cache, then fully cached runs
 * of the compiled CLI are timed. The figure that counts is the runner's own time (own-time.ts: from the CLI's first
 * module to the exit, without Node's start-up): the target is at most 0.2 s. A cached run still checks every hit
 * as the cache rules require (manifest, each file's kind, size and time), writes its run record and a lease.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {describe, nodeStartup, spread, timed} from './own-time-run.js';
import type {Timed} from './own-time-run.js';

const CLI = fileURLToPath(new URL('../../runner/cli-main.js', import.meta.url));
/** Enough runs that a burst of load on a shared machine moves the median little. */
const RUNS = 15;
const TARGET_S = 0.2;

const TOY = `
const num = {kind: 'Num'};
const params = {type: 'object', properties: {a: {type: 'number'}, b: {type: 'number'}}};
export default [
  {type: 'bench-source', params, outputs: {out: num}, run(ctx) { ctx.write('out', 1); }},
  {type: 'bench-step', params, inputs: {x: num}, outputs: {out: num},
   run(ctx) { const v = ctx.inputs.x + ctx.params.a * 10 + ctx.params.b; ctx.metric('v', v); ctx.write('out', v); }},
];
`;

function pipeline(): string {
  const a = Array.from({length: 100}, (_, i) => i);
  const b = Array.from({length: 10}, (_, i) => i);
  // 1 shared source + 100 x 10 grid instances of one step = 1,001 instances.
  return `name: bench
imports: [./bench-nodes.mjs]
grid:
  a: ${JSON.stringify(a)}
  b: ${JSON.stringify(b)}
nodes:
  src: {type: bench-source}
  step:
    type: bench-step
    in: {x: src}
    with: {a: "\${grid.a}", b: "\${grid.b}"}
`;
}

/** The seconds the run's last line reports (`ok: 0 ran, 1001 cached, ... in 0.21s`): the executor's own count. */
function executorSeconds(run: Timed): number {
  return Number(/ in ([\d.]+)s\s*$/m.exec(run.stdout)?.[1] ?? NaN);
}

/** Runs the benchmark and reports its figures. */
export async function bench(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-run-bench-'));
  const env = {...process.env, DISTILLERY_CACHE: ''};
  try {
    await writeFile(join(dir, 'bench-nodes.mjs'), TOY);
    await writeFile(join(dir, 'p.yaml'), pipeline());
    const fill = await timed(CLI, ['run', 'p.yaml'], dir, env);
    const last = fill.stdout.trim().split('\n').at(-1) ?? '';
    report(`run.bench: first run of 1,001 toy instances: ${fill.process.toFixed(2)} s (exit ${fill.status}; ${last})`);
    const runs: Timed[] = [];
    // Node's start-up is timed between the runs, so that it shows the load of the same moments.
    const startup = [];
    for (let i = 0; i < RUNS; i++) {
      const run = await timed(CLI, ['run', 'p.yaml'], dir, env);
      if (run.status !== 0 || !/ 0 ran, 1001 cached/.test(run.stdout)) throw new Error(`the no-op run did not take every hit: ${run.stdout.slice(-300)}${run.stderr}`);
      runs.push(run);
      startup.push(await nodeStartup());
    }
    const cpu = runs.map((r) => r.cpu);
    const wall = runs.map((r) => r.wall);
    report(`run.bench: no-op run of 1,001 cached instances (${RUNS} runs), the runner's own time: wall ${describe(wall)}, CPU ${describe(cpu)}`);
    report(`run.bench:   the executor's "in ...s": ${describe(runs.map(executorSeconds))}; the whole process, Node's start-up included: ${describe(runs.map((r) => r.process))}`);
    report(`run.bench:   for scale, Node's start-up alone (node -e 0): wall ${describe(startup.map((s) => s.wall))}, CPU ${describe(startup.map((s) => s.cpu))}`);
    const met = (values: number[]) => (spread(values).median <= TARGET_S ? 'met' : 'NOT met');
    report(`run.bench:   target: the runner's own time at most ${TARGET_S} s: ${met(wall)} by wall, ${met(cpu)} by CPU (medians; on a busy machine wall includes waiting for the CPU)`);
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}
