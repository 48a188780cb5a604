/**
 * Cluster overhead: a toy grid of 50 instances of 1 s nodes (one source, then 49 grid variants reading it) run with
 * `run --executor bullmq` on 3 local `distillery worker` processes (1 CPU slot each) sharing a folder remote, all
 * through the compiled CLI, with a Redis server of its own (Debian's redis-server on a loopback port).
 * Target: under 25 s wall for the run (18 s if jobs cost nothing: 1 s for the source, then 17 rounds of 3).
 *
 * Overhead per job = (slots x wall - 50 x 1 s) / 50: the slot time each job costs besides its second of work (the
 * queue, fetching inputs, the node's process, committing, pushing, reporting back, and slots left idle while the
 * source runs). Of this, the part spent around the node in its worker process (`node-succeeded` seconds beyond 1 s:
 * the process start, reading inputs, writing outputs) is printed too.
 */
import {spawn} from 'node:child_process';
import type {ChildProcess} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {mkdir, mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {setTimeout as sleep} from 'node:timers/promises';
import type {RunEvent} from '../../runner/events.js';
import {startRedis} from '../util/servers.js';
import type {RedisServer} from '../util/servers.js';

const CLI = fileURLToPath(new URL('../../runner/cli-main.js', import.meta.url));
const WORKERS = 3;
const INSTANCES = 50;
const NODE_SECONDS = 1;

const TOY = `
const num = {kind: 'Num'};
const params = {type: 'object', properties: {v: {type: 'number'}}};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export default [
  {type: 'bench-src', params, outputs: {out: num}, async run(ctx) { await sleep(${NODE_SECONDS * 1000}); ctx.write('out', 1); }},
  {type: 'bench-step', params, inputs: {x: num}, outputs: {out: num},
   async run(ctx) { await sleep(${NODE_SECONDS * 1000}); ctx.write('out', ctx.inputs.x + ctx.params.v); }},
];
`;

function pipeline(): string {
  const values = Array.from({length: INSTANCES - 1}, (_, i) => i + 1);
  return `name: cluster-bench
imports: [./bench-nodes.mjs]
grid:
  v: ${JSON.stringify(values)}
nodes:
  src: {type: bench-src, with: {v: 0}}
  step: {type: bench-step, in: {x: src}, with: {v: "\${grid.v}"}}
`;
}

/** A spawned process and what it printed. */
interface Proc {
  readonly child: ChildProcess;
  out(): string;
  readonly exited: Promise<number | null>;
}

function start(command: string, args: readonly string[], cwd: string): Proc {
  const child = spawn(command, args, {cwd, env: {...process.env, DISTILLERY_CACHE: '', DISTILLERY_REMOTE: '', DISTILLERY_BACKEND: 'cpu'}, stdio: ['ignore', 'pipe', 'pipe']});
  let out = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (out += d.toString()));
  return {child, out: () => out, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code)))};
}

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Runs the benchmark and reports its figures. */
export async function bench(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-cluster-bench-'));
  const processes: Proc[] = [];
  let redis: RedisServer | undefined;
  try {
    await writeFile(join(dir, 'bench-nodes.mjs'), TOY);
    await writeFile(join(dir, 'p.yaml'), pipeline());
    await mkdir(join(dir, 'remote'));
    redis = await startRedis(randomBytes(12).toString('hex'));
    const url = redis.url;
    const workers = Array.from({length: WORKERS}, (_, i) =>
      start(process.execPath, [CLI, 'worker', '--redis', url, '--remote', './remote', '--cache-dir', `cache-${i}`, '--name', `bench-${i}`, '--jobs', '1'], dir),
    );
    processes.push(...workers);
    await until('the workers', () => workers.every((w) => w.out().includes('taking jobs')));

    const t0 = performance.now();
    const run = start(process.execPath, [CLI, 'run', 'p.yaml', '--executor', 'bullmq', '--redis', url, '--remote', './remote', '--json'], dir);
    const code = await run.exited;
    const wall = (performance.now() - t0) / 1000;
    const events = run
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as RunEvent);
    const finished = events.find((e) => e.type === 'run-finished');
    if (code !== 0 || finished?.type !== 'run-finished' || finished.counts.ran !== INSTANCES) {
      throw new Error(`the cluster run failed (exit ${code}): ${run.out().slice(-2000)}`);
    }
    const inWorkers = events.flatMap((e) => (e.type === 'node-succeeded' ? [e.seconds] : [])).reduce((a, b) => a + b, 0);
    const perJob = (WORKERS * wall - INSTANCES * NODE_SECONDS) / INSTANCES;
    const insideWorkers = (inWorkers - INSTANCES * NODE_SECONDS) / INSTANCES;
    const ideal = NODE_SECONDS * (1 + Math.ceil((INSTANCES - 1) / WORKERS));
    report(
      `cluster.bench: ${INSTANCES} instances of ${NODE_SECONDS} s nodes on ${WORKERS} local workers (1 slot each), run CLI wall ` +
        `${wall.toFixed(2)} s (ideal ${ideal} s; target < 25 s: ${wall < 25 ? 'met' : 'NOT met'}); overhead per job ` +
        `${perJob.toFixed(3)} s of slot time, of which ${insideWorkers.toFixed(3)} s around the node in its worker process (start, inputs, outputs)`,
    );
  } finally {
    for (const p of processes.reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill('SIGTERM');
      const killer = setTimeout(() => p.child.kill('SIGKILL'), 20_000);
      await p.exited;
      clearTimeout(killer);
    }
    await redis?.stop();
    await rm(dir, {recursive: true, force: true});
  }
}
