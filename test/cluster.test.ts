/**
 * The cluster executor with real parts: a Redis server (Debian's redis-server, started here on a loopback port with a
 * password), `distillery worker` processes with their own local caches sharing one folder remote, and `distillery
 * run --executor bullmq` processes, all spawned from the sources. Toy nodes append `start|end ID WORKER-PID
 * CUDA_VISIBLE_DEVICES` to a log, so the tests see which worker computed what, and how often.
 */
import {after, before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import type {ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {setTimeout as sleep} from 'node:timers/promises';
import {Queue} from 'bullmq';
import {Redis} from 'ioredis';
import {LocalStore} from '../cache/local-store.js';
import {openRemote} from '../cache/open-remote.js';
import type {RunEvent} from '../runner/events.js';
import {parseRedisUrl} from '../runner/cluster/redis-address.js';
import {loadProjectConfig} from '../runner/project-config.js';
import {renderDiagnostics} from '../runner/diagnostic.js';
import type {RedisServer} from './util/servers.js';
import {startRedis} from './util/servers.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');
const CLI = join(REPO, 'runner', 'cli-main.ts');
/** The Redis password: no output, log or record may contain it. */
const PASSWORD = 'sekret-7Qx9-cluster';

const TOY = `
import {appendFileSync} from 'node:fs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const num = {kind: 'Num'};
const params = {type: 'object', properties: {sleepMs: {type: 'number', default: 0}, v: {type: 'number', default: 0}}};
const note = (ctx, what) => appendFileSync(process.env.TOY_LOG, what + ' ' + ctx.id + ' ' + process.ppid + ' ' + (process.env.CUDA_VISIBLE_DEVICES ?? '-') + '\\n');
export default [
  {type: 'src', params, outputs: {out: num}, async run(ctx) {
    note(ctx, 'start'); await sleep(ctx.params.sleepMs); ctx.write('out', ctx.params.v); note(ctx, 'end');
  }},
  {type: 'step', params, inputs: {x: num}, outputs: {out: num}, async run(ctx) {
    note(ctx, 'start'); await sleep(ctx.params.sleepMs);
    ctx.metric('v', ctx.inputs.x + ctx.params.v); ctx.log('sum ' + (ctx.inputs.x + ctx.params.v));
    ctx.write('out', ctx.inputs.x + ctx.params.v); note(ctx, 'end');
  }},
  {type: 'gpustep', params, resources: {gpu: 1}, inputs: {x: num}, outputs: {out: num}, async run(ctx) {
    note(ctx, 'start'); await sleep(ctx.params.sleepMs); ctx.write('out', ctx.inputs.x * 2); note(ctx, 'end');
  }},
];
`;

/** A grid pipeline: `src` shared, then per grid value a CPU `step` and a GPU `g` after it. */
function gridPipeline(opts: {values: readonly number[]; src?: number; sleepMs?: number; gpu?: boolean}): string {
  return `name: toy
imports: [./toy.mjs]
grid:
  v: ${JSON.stringify(opts.values)}
nodes:
  src: {type: src, with: {v: ${opts.src ?? 10}, sleepMs: 100}}
  step:
    type: step
    in: {x: src}
    with: {v: "\${grid.v}", sleepMs: ${opts.sleepMs ?? 300}}
${opts.gpu === false ? '' : `  g:
    type: gpustep
    in: {x: step}
    with: {sleepMs: 100}
`}`;
}

interface Proc {
  readonly child: ChildProcess;
  out(): string;
  err(): string;
  readonly exited: Promise<{code: number | null; signal: NodeJS.Signals | null}>;
}

/** Spawns the CLI from the sources. */
function cli(cwd: string, args: readonly string[], env: NodeJS.ProcessEnv): Proc {
  const child = spawn(process.execPath, ['--import', TSX, CLI, ...args], {cwd, env, stdio: ['ignore', 'pipe', 'pipe']});
  let out = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('exit', (code, signal) => resolve({code, signal})));
  return {child, out: () => out, err: () => err, exited};
}

/** Polls `check` until it holds; generous deadlines, because the test machine may be loaded. */
async function waitFor(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 90_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** One line of the toy log. */
interface LogLine {
  readonly what: 'start' | 'end';
  readonly id: string;
  readonly pid: number;
  readonly cuda: string;
}

describe('cluster executor: redis-server, distillery workers, a folder remote', () => {
  let redis: RedisServer;
  let dir: string;
  let log: string;
  let env: NodeJS.ProcessEnv;
  const workers = new Map<string, Proc>();
  /** Every process's output, checked for the password at the end. */
  const outputs: Array<() => string> = [];

  const logLines = async (): Promise<LogLine[]> =>
    (await readFile(log, 'utf8'))
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [what, id, pid, cuda] = l.split(' ');
        return {what: what as 'start' | 'end', id: id ?? '', pid: Number(pid), cuda: cuda ?? ''};
      });

  const startWorker = async (name: string, extra: readonly string[], cwd = dir, queue = 'q'): Promise<Proc> => {
    const proc = cli(cwd, ['worker', '--redis', redis.url, '--queue', queue, '--remote', join(dir, 'remote'), '--cache-dir', join(dir, `cache-${name}`),
      '--name', name, '--stall-timeout', '4s', ...extra], env);
    outputs.push(() => proc.out() + proc.err());
    workers.set(name, proc);
    await waitFor(`worker ${name} to start`, () => {
      if (proc.child.exitCode !== null) throw new Error(`worker ${name} exited: ${proc.err()}`);
      return proc.out().includes('taking jobs');
    });
    return proc;
  };

  /** Re-downloads and checks every entry of the shared remote. */
  const verifyRemote = async (): Promise<{entries: number; problems: string[]}> => {
    const remote = await openRemote({name: 'shared', spec: {kind: 'folder', path: join(dir, 'remote')}});
    try {
      const keys = await remote.keys();
      if (!Array.isArray(keys)) throw new Error(keys.reason);
      const problems: string[] = [];
      for (const key of keys) {
        const problem = await remote.check(key);
        if (problem !== undefined) problems.push(`${key}: ${typeof problem === 'string' ? problem : problem.reason}`);
      }
      return {entries: keys.length, problems};
    } finally {
      remote.close();
    }
  };

  const run = async (file: string, extra: readonly string[] = [], onStart?: (p: Proc) => void): Promise<{code: number | null; events: RunEvent[]; out: string; err: string}> => {
    const proc = cli(dir, ['run', file, '--executor', 'bullmq', '--redis', redis.url, '--queue', 'q', '--remote', './remote', '--json', ...extra], env);
    outputs.push(() => proc.out() + proc.err());
    onStart?.(proc);
    const {code} = await proc.exited;
    const events = proc
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as RunEvent);
    return {code, events, out: proc.out(), err: proc.err()};
  };

  before(async () => {
    redis = await startRedis(PASSWORD);
    dir = await mkdtemp(join(tmpdir(), 'distillery-cluster-'));
    log = join(dir, 'toy.log');
    await writeFile(log, '');
    await writeFile(join(dir, 'toy.mjs'), TOY);
    await mkdir(join(dir, 'remote'));
    env = {
      ...process.env,
      DISTILLERY_BACKEND: 'cpu',
      DISTILLERY_CACHE: '',
      DISTILLERY_REMOTE: '',
      DISTILLERY_REDIS: '',
      DISTILLERY_REDIS_PASSWORD: '',
      TOY_LOG: log,
    };
    // Three machines: two CPU-only, one with two (fake) GPUs.
    await Promise.all([startWorker('w1', ['--jobs', '2']), startWorker('w2', ['--jobs', '2']), startWorker('gpu', ['--jobs', '1', '--gpus', '0,1'])]);
  });

  after(async () => {
    await Promise.all(
      [...workers.values()].map(async (w) => {
        if (w.child.exitCode !== null || w.child.signalCode !== null) return;
        w.child.kill('SIGTERM');
        const killer = setTimeout(() => w.child.kill('SIGKILL'), 20_000);
        await w.exited;
        clearTimeout(killer);
      }),
    );
    await redis?.stop();
    if (dir !== undefined) await rm(dir, {recursive: true, force: true});
  });

  it('runs every instance exactly once across the workers, GPU nodes only on the worker with GPUs, and the caches verify', async () => {
    await writeFile(join(dir, 'grid.yaml'), gridPipeline({values: [1, 2, 3, 4]}));
    const first = await run('grid.yaml');
    assert.equal(first.code, 0, first.out + first.err);
    const finished = first.events.at(-1);
    assert.deepEqual(finished?.type === 'run-finished' ? finished.counts : undefined, {ran: 9, cached: 0, failed: 0, skipped: 0});

    const lines = await logLines();
    const ends = lines.filter((l) => l.what === 'end');
    assert.equal(ends.length, 9);
    assert.equal(new Set(ends.map((l) => l.id)).size, 9, 'an instance ran twice');
    assert.equal(lines.filter((l) => l.what === 'start').length, 9);

    const gpuPid = workers.get('gpu')?.child.pid;
    const gpuRuns = ends.filter((l) => l.id.startsWith('g{'));
    assert.equal(gpuRuns.length, 4);
    for (const l of gpuRuns) {
      assert.equal(l.pid, gpuPid, `${l.id} ran on a worker without GPUs`);
      assert.ok(['0', '1'].includes(l.cuda), `${l.id} saw CUDA_VISIBLE_DEVICES=${l.cuda}`);
    }
    const cpuWorkers = new Set(ends.filter((l) => !l.id.startsWith('g{')).map((l) => l.pid));
    assert.ok(cpuWorkers.size >= 2, 'the CPU instances were not spread over the workers');

    // The run shows the workers' events as if local: starts with the worker's name, logs and metrics.
    const started = first.events.filter((e) => e.type === 'node-started');
    assert.equal(started.length, 9);
    for (const e of started) {
      if (e.type !== 'node-started') continue;
      assert.ok(['w1', 'w2', 'gpu'].includes(e.worker ?? ''), `no worker name on ${e.id}`);
      if (e.id.startsWith('g{')) assert.deepEqual([e.worker, e.device.kind], ['gpu', 'gpu']);
    }
    assert.ok(first.events.some((e) => e.type === 'node-log' && e.id === 'step{v=3}' && e.message === 'sum 13'));
    assert.ok(first.events.some((e) => e.type === 'node-metric' && e.id === 'step{v=3}' && e.name === 'v' && e.value === 13));
    const records = await readdir(join(dir, '.distillery', 'runs'));
    assert.equal(records.length, 1);
    const summary = JSON.parse(await readFile(join(dir, '.distillery', 'runs', records[0] ?? '', 'summary.json'), 'utf8')) as {nodes: Array<{id: string; status: string; metrics: Record<string, number>}>};
    assert.deepEqual(summary.nodes.find((n) => n.id === 'step{v=3}')?.metrics, {v: 13});

    // Everything is in the remote and in the caches of the workers that computed it, and all of it verifies.
    assert.deepEqual(await verifyRemote(), {entries: 9, problems: []});
    const local = new Set<string>();
    for (const name of ['w1', 'w2', 'gpu']) {
      const store = await LocalStore.open(join(dir, `cache-${name}`));
      assert.deepEqual((await store.verify()).problems, [], name);
      for (const entry of await store.list()) local.add(entry.key);
    }
    // Each worker also keeps the inputs it fetched.
    assert.equal(local.size, 9);

    // Again: everything is cached (found in the remote), and nothing runs.
    const again = await run('grid.yaml');
    assert.equal(again.code, 0, again.out + again.err);
    const counts = again.events.at(-1);
    assert.deepEqual(counts?.type === 'run-finished' ? counts.counts : undefined, {ran: 0, cached: 9, failed: 0, skipped: 0});
    assert.equal((await logLines()).length, 18);
  });

  it('two overlapping runs at once compute each shared key once', async () => {
    await writeFile(join(dir, 'a.yaml'), gridPipeline({values: [1, 2, 3], src: 20, sleepMs: 600, gpu: false}));
    await writeFile(join(dir, 'b.yaml'), gridPipeline({values: [2, 3, 4], src: 20, sleepMs: 600, gpu: false}));
    const before = (await logLines()).length;
    const [a, b] = await Promise.all([run('a.yaml'), run('b.yaml')]);
    assert.equal(a.code, 0, a.out + a.err);
    assert.equal(b.code, 0, b.out + b.err);
    const ends = (await logLines()).slice(before).filter((l) => l.what === 'end').map((l) => l.id).sort();
    assert.deepEqual(ends, ['src', 'step{v=1}', 'step{v=2}', 'step{v=3}', 'step{v=4}']);
    // Both runs report every instance done, whichever run queued it.
    for (const r of [a, b]) {
      const last = r.events.at(-1);
      assert.equal(last?.type === 'run-finished' ? last.counts.failed + last.counts.skipped : -1, 0);
    }
  });

  it('Redis restarting mid-run loses no finished result: lost jobs are queued again, finished ones are not recomputed', async () => {
    await writeFile(join(dir, 'restart.yaml'), gridPipeline({values: [1, 2, 3, 4, 5], src: 70, sleepMs: 1500, gpu: false}));
    const before = (await logLines()).length;
    let finishedBefore: string[] = [];
    const result = await run('restart.yaml', [], () => {
      void (async () => {
        await waitFor('a step to finish', async () => (await logLines()).slice(before).some((l) => l.what === 'end' && l.id.startsWith('step')));
        finishedBefore = (await logLines()).slice(before).filter((l) => l.what === 'end').map((l) => l.id);
        await redis.restart();
      })();
    });
    assert.equal(result.code, 0, result.out + result.err);
    const last = result.events.at(-1);
    assert.ok(last?.type === 'run-finished' && last.counts.ran + last.counts.cached === 6 && last.counts.failed === 0, JSON.stringify(last));
    const lines = (await logLines()).slice(before);
    for (const id of finishedBefore) assert.equal(lines.filter((l) => l.what === 'start' && l.id === id).length, 1, `${id} was computed again`);
    const ends = new Set(lines.filter((l) => l.what === 'end').map((l) => l.id));
    assert.equal(ends.size, 6);
    assert.deepEqual((await verifyRemote()).problems, []);
  });

  it('a worker killed with SIGKILL mid-node has its job finished by another after stall detection', async () => {
    await writeFile(
      join(dir, 'slow.yaml'),
      `name: slow
imports: [./toy.mjs]
nodes:
  src: {type: src, with: {v: 30}}
  slow: {type: step, in: {x: src}, with: {v: 1, sleepMs: 3000}}
`,
    );
    const before = (await logLines()).length;
    let killed: number | undefined;
    const result = await run('slow.yaml', [], () => {
      void (async () => {
        await waitFor('the slow node to start', async () => (await logLines()).slice(before).some((l) => l.what === 'start' && l.id === 'slow'));
        killed = (await logLines()).slice(before).find((l) => l.what === 'start' && l.id === 'slow')?.pid;
        const victim = [...workers.values()].find((w) => w.child.pid === killed);
        assert.ok(victim !== undefined, 'the slow node ran in no known worker');
        victim.child.kill('SIGKILL');
      })();
    });
    assert.equal(result.code, 0, result.out + result.err);
    const slow = (await logLines()).slice(before).filter((l) => l.id === 'slow');
    assert.deepEqual(slow.map((l) => l.what), ['start', 'start', 'end'], JSON.stringify(slow));
    assert.notEqual(slow[2]?.pid, killed, 'the killed worker finished the job');
    assert.ok(result.events.some((e) => e.type === 'notice' && /slow: its worker stopped answering/.test(e.message)));
    const last = result.events.at(-1);
    assert.deepEqual(last?.type === 'run-finished' ? last.counts : undefined, {ran: 2, cached: 0, failed: 0, skipped: 0});
    // The entries in the remote are whole.
    assert.deepEqual((await verifyRemote()).problems, []);
  });

  it('a worker stopped with SIGTERM mid-node hands its job back to the queue, and another worker finishes it', async () => {
    await writeFile(
      join(dir, 'stopped.yaml'),
      `name: stopped
imports: [./toy.mjs]
nodes:
  src: {type: src, with: {v: 60}}
  slow: {type: step, in: {x: src}, with: {v: 2, sleepMs: 3000}}
`,
    );
    const before = (await logLines()).length;
    let stopped: Proc | undefined;
    const result = await run('stopped.yaml', [], () => {
      void (async () => {
        await waitFor('the slow node to start', async () => (await logLines()).slice(before).some((l) => l.what === 'start' && l.id === 'slow'));
        const pid = (await logLines()).slice(before).find((l) => l.what === 'start' && l.id === 'slow')?.pid;
        stopped = [...workers.values()].find((w) => w.child.pid === pid);
        stopped?.child.kill('SIGTERM');
      })();
    });
    assert.equal(result.code, 0, result.out + result.err);
    assert.ok(stopped !== undefined, 'the slow node ran in no known worker');
    assert.deepEqual(await stopped.exited, {code: 0, signal: null});
    assert.match(stopped.out(), /returned  slow to the queue: worker \S+ is stopping\nstopped\n$/);
    const slow = (await logLines()).slice(before).filter((l) => l.id === 'slow');
    assert.deepEqual(slow.map((l) => l.what), ['start', 'start', 'end'], JSON.stringify(slow));
    assert.notEqual(slow[2]?.pid, stopped.child.pid);
  });

  it('Ctrl-C of a run removes its queued jobs', async () => {
    await writeFile(join(dir, 'idle.yaml'), gridPipeline({values: [1], src: 40, gpu: false}));
    const queue = new Queue('idle', {connection: {host: '127.0.0.1', port: redis.port, password: PASSWORD}, prefix: 'distillery'});
    const client = new Redis({host: '127.0.0.1', port: redis.port, password: PASSWORD});
    try {
      // No worker takes jobs from queue "idle": the run's first job waits there until Ctrl-C.
      const proc = cli(dir, ['run', 'idle.yaml', '--executor', 'bullmq', '--redis', redis.url, '--queue', 'idle', '--remote', './remote'], env);
      outputs.push(() => proc.out() + proc.err());
      await waitFor('the job to be queued', async () => (await queue.getJobCounts('wait')).wait === 1);
      assert.match(proc.out(), /no worker takes jobs from queue idle/);
      proc.child.kill('SIGINT');
      const {code} = await proc.exited;
      assert.equal(code, 130, proc.out() + proc.err());
      assert.deepEqual(await queue.getJobCounts('wait', 'active', 'delayed'), {wait: 0, active: 0, delayed: 0});
      assert.deepEqual(await client.keys('distillery:idle:interest:*'), []);
    } finally {
      await queue.close();
      client.disconnect();
    }
  });

  it('a worker with --exit-when-idle takes the queued jobs, counts a running job as busy, and leaves once the queue is dry', async () => {
    // Two jobs queued at once, each longer than the idle time: the worker (one slot) must not leave mid-job or between them.
    await writeFile(
      join(dir, 'drain.yaml'),
      `name: drain
imports: [./toy.mjs]
grid: {v: [1, 2]}
nodes:
  a: {type: src, with: {v: "\${grid.v}", sleepMs: 4000}}
`,
    );
    const queue = new Queue('drain', {connection: {host: '127.0.0.1', port: redis.port, password: PASSWORD}, prefix: 'distillery'});
    const before = (await logLines()).length;
    const proc = cli(dir, ['run', 'drain.yaml', '--executor', 'bullmq', '--redis', redis.url, '--queue', 'drain', '--remote', './remote', '--json'], env);
    outputs.push(() => proc.out() + proc.err());
    try {
      await waitFor('both jobs to be queued', async () => (await queue.getJobCounts('wait')).wait === 2);
      const worker = await startWorker('drainer', ['--jobs', '1', '--exit-when-idle', '3s'], dir, 'drain');
      // A worker that left first may only have left once the run had what it needed: the run still ends.
      if ((await Promise.race([proc.exited.then(() => 'run'), worker.exited.then(() => 'worker')])) === 'worker') {
        const ended = await Promise.race([proc.exited.then(() => true), sleep(30_000).then(() => false)]);
        assert.ok(ended, `the worker left while the run still waited for it:\n${worker.out()}`);
      }
      const {code} = await proc.exited;
      assert.equal(code, 0, proc.out() + proc.err());
      const finished = proc.out().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunEvent).at(-1);
      assert.deepEqual(finished?.type === 'run-finished' ? finished.counts : undefined, {ran: 2, cached: 0, failed: 0, skipped: 0});
      assert.deepEqual(await worker.exited, {code: 0, signal: null});
      const ends = (await logLines()).slice(before).filter((l) => l.what === 'end');
      assert.deepEqual(ends.map((l) => [l.id, l.pid]).sort(), [['a{v=1}', worker.child.pid], ['a{v=2}', worker.child.pid]]);
      assert.match(
        worker.out(),
        /\nran       a\{v=\d\} \([\d.]+s\)\n(.*\n)*ran       a\{v=\d\} \([\d.]+s\)\nidle      no job for 3s; leaving\nstopping: 0 running jobs go back to the queue .*\nstopped\n$/,
      );
      assert.doesNotMatch(worker.out(), /returned/);
    } finally {
      // A run left waiting (the worker left too early) would keep this test process alive.
      if (proc.child.exitCode === null && proc.child.signalCode === null) proc.child.kill('SIGKILL');
      await queue.close();
    }
    const bad = cli(dir, ['worker', '--redis', redis.url, '--remote', './remote', '--exit-when-idle', 'soon'], env);
    assert.equal((await bad.exited).code, 2);
    assert.match(bad.err(), /^distillery worker: --exit-when-idle: cannot read "soon" as a duration\n/);
  });

  it('a worker refuses a custom module whose content differs from the one the job was planned with', async () => {
    const other = join(dir, 'other-checkout');
    await mkdir(other);
    await writeFile(join(other, 'toy.mjs'), TOY.replace('const sleep', '// edited on this machine\nconst sleep'));
    await startWorker('stale', ['--jobs', '1'], other, 'stale');
    await writeFile(join(dir, 'refused.yaml'), gridPipeline({values: [1], src: 50, gpu: false}));
    const proc = cli(dir, ['run', 'refused.yaml', '--executor', 'bullmq', '--redis', redis.url, '--queue', 'stale', '--remote', './remote', '--json'], env);
    outputs.push(() => proc.out() + proc.err());
    const {code} = await proc.exited;
    assert.equal(code, 1, proc.out() + proc.err());
    const failure = proc
      .out()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as RunEvent)
      .find((e) => e.type === 'node-failed');
    assert.ok(failure?.type === 'node-failed' && failure.id === 'src', proc.out());
    assert.match(failure.error, /^refused: this worker's copy of node type "src" in .*toy\.mjs is not the code the job was planned with/);
    assert.ok(!(await logLines()).some((l) => l.id === 'src' && l.pid === workers.get('stale')?.child.pid), 'the refused node ran');
  });

  it('never shows the Redis password, and says plainly when Redis refuses it', async () => {
    const wrong = cli(dir, ['worker', '--redis', `redis://:not-the-password-41@127.0.0.1:${redis.port}`, '--remote', './remote', '--cache-dir', 'cache-x'], env);
    const {code} = await wrong.exited;
    assert.equal(code, 2);
    assert.match(wrong.err(), /cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:\d+: .*(WRONGPASS|invalid)/i);
    assert.doesNotMatch(wrong.out() + wrong.err(), /not-the-password-41/);
    for (const output of outputs) assert.doesNotMatch(output(), new RegExp(PASSWORD));
    const runs = join(dir, '.distillery', 'runs');
    for (const record of await readdir(runs)) {
      for (const file of ['events.jsonl', 'summary.json']) {
        if (existsSync(join(runs, record, file))) assert.doesNotMatch(await readFile(join(runs, record, file), 'utf8'), new RegExp(PASSWORD));
      }
    }
  });
});

describe('cluster settings', () => {
  it('reads Redis URLs, masks their credentials, and takes the password from the environment', () => {
    const withPassword = parseRedisUrl('redis://:s3cret@queue-box:6380/2', {});
    assert.ok(withPassword.ok);
    assert.equal(withPassword.value.display, 'redis://***@queue-box:6380/2');
    assert.deepEqual(withPassword.value.connection, {host: 'queue-box', port: 6380, db: 2, password: 's3cret'});
    const fromEnv = parseRedisUrl('rediss://queue-box', {DISTILLERY_REDIS_PASSWORD: 'env-pass'});
    assert.ok(fromEnv.ok);
    assert.equal(fromEnv.value.display, 'rediss://queue-box');
    assert.deepEqual(fromEnv.value.connection, {host: 'queue-box', port: 6379, db: 0, password: 'env-pass', tls: {}});
    const bad = parseRedisUrl('http://:pw@queue-box', {});
    assert.ok(!bad.ok);
    assert.equal(bad.error.message, 'a Redis URL starts with redis:// or rediss://, not http://');
  });

  it('refuses a password in the project config, and an unknown executor', async () => {
    const root = await mkdtemp(join(tmpdir(), 'distillery-cluster-config-'));
    try {
      await writeFile(join(root, 'distillery.config.yaml'), 'executor: slurm\ncluster:\n  redis: redis://:hunter2@queue-box:6379\n  queue: "a b"\n');
      const config = await loadProjectConfig(root);
      assert.ok(!config.ok);
      const text = renderDiagnostics(config.error, {color: false});
      assert.match(text, /executor/);
      assert.doesNotMatch(text, /hunter2/);
      await writeFile(join(root, 'distillery.config.yaml'), 'cluster:\n  redis: redis://:hunter2@queue-box:6379\n  queue: "a b"\n');
      const again = await loadProjectConfig(root);
      assert.ok(!again.ok);
      assert.equal(
        renderDiagnostics(again.error, {color: false}),
        `error: distillery.config.yaml:2:10 the Redis URL in the config must not contain a password
      redis: redis://***@queue-box:6379
             ~~~~~~~~~~~~~~~~~~~~~~~~~~
  hint: put it in DISTILLERY_REDIS_PASSWORD

error: distillery.config.yaml:3:10 the queue name "a b" must be letters, digits, '_', '.' or '-' (at most 100), starting with a letter or digit
      queue: "a b"
             ~~~~~

2 errors
`,
      );
    } finally {
      await rm(root, {recursive: true, force: true});
    }
  });
});
