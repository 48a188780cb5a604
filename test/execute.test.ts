/** Execution: the executor on hand-built plans, and the `run` / `results` commands on real pipelines. */
import {after, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import type {ChildProcess} from 'node:child_process';
import {readdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {hostname} from 'node:os';
import {formatEvent} from '../runner/loggers/format-event.js';
import {fileURLToPath} from 'node:url';
import {LocalStore} from '../cache/local-store.js';
import type {CacheStore} from '../cache/store.js';
import {execute} from '../runner/executor.js';
import type {ExecuteOptions} from '../runner/executor.js';
import type {Executor} from '../runner/instance-executor.js';
import {DevicePool, parseNvidiaSmi} from '../runner/device-pool.js';
import type {RunEvent} from '../runner/events.js';
import type {Plan} from '../runner/plan.js';
import type {RunSummary} from '../runner/run-record.js';
import {analyzePipeline} from '../runner/analyze-pipeline.js';
import {makePlan, makeRig} from './execute-rig.js';
import type {Rig, ToySpec} from './execute-rig.js';

const rigs: Rig[] = [];
after(async () => {
  await Promise.all(rigs.map((r) => r.cleanup()));
});

async function rig(): Promise<Rig> {
  const r = await makeRig();
  rigs.push(r);
  return r;
}

async function runPlan(r: Rig, plan: Plan, options: ExecuteOptions = {}) {
  const store = await LocalStore.open(join(r.dir, 'cache'));
  const events: RunEvent[] = [];
  const result = await execute(plan, store, {pool: DevicePool.fixed([], 2), graceMs: 200, ...options}, (e) => events.push(e));
  return {result, events, store};
}

function chain(r: Rig, value = 1, add = 10): ToySpec[] {
  return [
    {id: 'src', type: 'toy-source', params: {value, log: r.log}, outputs: {out: 'Num'}},
    {id: 'add', type: 'toy-add', params: {add, log: r.log}, inputs: {a: [['src', 'out']]}, outputs: {out: 'Num'}},
    {
      id: 'sum',
      type: 'toy-add',
      params: {add: 0, log: r.log},
      inputs: {a: [['src', 'out']], b: [['add', 'out'], ['src', 'out']]},
      many: ['b'],
      outputs: {out: 'Num'},
    },
  ];
}

describe('executor', () => {
  it('computes each instance once, then a second run computes nothing and starts no worker', async () => {
    const r = await rig();
    const plan = makePlan(r.module, chain(r));
    const first = await runPlan(r, plan);
    assert.equal(first.result.status, 'ok');
    assert.deepEqual(first.result.counts, {ran: 3, cached: 0, failed: 0, skipped: 0});
    assert.deepEqual(await r.computed(), ['src', 'add', 'sum']);
    // sum = src + (add + src) = 1 + (11 + 1)
    assert.deepEqual(first.result.nodes.find((n) => n.id === 'sum')?.metrics, {score: 13});
    assert.ok(first.events.some((e) => e.type === 'node-log' && e.id === 'add' && e.message === 'sum is 11'));
    const second = await runPlan(r, plan);
    assert.deepEqual(second.result.counts, {ran: 0, cached: 3, failed: 0, skipped: 0});
    assert.equal(second.result.workersStarted, 0);
    assert.equal((await r.computed()).length, 3);
    assert.deepEqual(second.result.nodes.find((n) => n.id === 'sum')?.metrics, {score: 13});
  });

  it('recomputes a changed node and its dependents only', async () => {
    const r = await rig();
    await runPlan(r, makePlan(r.module, chain(r, 1, 10)));
    const changed = await runPlan(r, makePlan(r.module, chain(r, 1, 20)));
    assert.deepEqual(changed.result.counts, {ran: 2, cached: 1, failed: 0, skipped: 0});
    assert.deepEqual((await r.computed()).slice(3), ['add', 'sum']);
    const upstream = await runPlan(r, makePlan(r.module, chain(r, 2, 20)));
    assert.deepEqual(upstream.result.counts, {ran: 3, cached: 0, failed: 0, skipped: 0});
  });

  it('passes file outputs as paths and tells nodes their upstream instances', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [
      {id: 'file', type: 'toy-file', params: {text: 'hello', log: r.log}, outputs: {blob: 'Blob'}},
      {id: 'cat', type: 'toy-cat', params: {log: r.log}, inputs: {blob: [['file', 'blob']]}, outputs: {out: 'Text'}},
    ]);
    const {store} = await runPlan(r, plan);
    const hit = await store.get(plan.nodes.get('cat')?.key ?? '');
    assert.equal(hit.status, 'hit');
    if (hit.status === 'hit') assert.equal(JSON.parse(await readFile(join(hit.entry.dir, 'out.json'), 'utf8')), 'hello|file');
  });

  it('by default starts nothing new after a failure and skips what is downstream', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [
      {id: 'bad', type: 'toy-source', params: {value: 1, fail: true, log: r.log}, outputs: {out: 'Num'}},
      {id: 'after', type: 'toy-add', params: {log: r.log}, inputs: {a: [['bad', 'out']]}, outputs: {out: 'Num'}},
      // Long enough that `bad` has failed before `slow` ends even when worker start-up is slow on a loaded machine.
      {id: 'slow', type: 'toy-source', params: {value: 2, sleepMs: 2_000, log: r.log}, outputs: {out: 'Num'}},
      {id: 'later', type: 'toy-add', params: {log: r.log}, inputs: {a: [['slow', 'out']]}, outputs: {out: 'Num'}},
    ]);
    const {result, events} = await runPlan(r, plan);
    assert.equal(result.status, 'failed');
    const status = Object.fromEntries(result.nodes.map((n) => [n.id, n.status]));
    assert.deepEqual(status, {bad: 'failed', after: 'skipped', slow: 'ran', later: 'skipped'});
    const bad = result.nodes.find((n) => n.id === 'bad');
    assert.equal(bad?.error, 'toy failure in bad');
    assert.match(bad?.stack ?? '', /toy-nodes\.mjs/);
    assert.ok(events.some((e) => e.type === 'node-skipped' && e.id === 'after' && e.reason === 'upstream bad failed'));
  });

  it('--keep-going runs everything not downstream of a failure', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [
      {id: 'bad', type: 'toy-source', params: {value: 1, fail: true, log: r.log}, outputs: {out: 'Num'}},
      {id: 'after', type: 'toy-add', params: {log: r.log}, inputs: {a: [['bad', 'out']]}, outputs: {out: 'Num'}},
      {id: 'slow', type: 'toy-source', params: {value: 2, sleepMs: 100, log: r.log}, outputs: {out: 'Num'}},
      {id: 'later', type: 'toy-add', params: {log: r.log}, inputs: {a: [['slow', 'out']]}, outputs: {out: 'Num'}},
    ]);
    const {result} = await runPlan(r, plan, {keepGoing: true});
    const status = Object.fromEntries(result.nodes.map((n) => [n.id, n.status]));
    assert.deepEqual(status, {bad: 'failed', after: 'skipped', slow: 'ran', later: 'ran'});
  });

  it('retries a failing instance', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [{id: 'flaky', type: 'toy-flaky', params: {failures: 2, log: r.log}, outputs: {out: 'Num'}}]);
    const once = await runPlan(r, plan, {retries: 1});
    assert.equal(once.result.status, 'failed');
    const twice = await runPlan(r, plan, {retries: 2});
    assert.equal(twice.result.status, 'ok');
    assert.deepEqual(await r.computed(), ['flaky', 'flaky', 'flaky']);
    const retried = (events: RunEvent[]) => events.flatMap((e) => (e.type === 'node-failed' ? [e.willRetry] : []));
    assert.deepEqual(retried(once.events), [true, false]);
    assert.deepEqual(retried(twice.events), []);
  });

  it('runs gpu nodes on CPU slots with one notice when there is no GPU, and pins CUDA_VISIBLE_DEVICES otherwise', async () => {
    const r = await rig();
    const specs: ToySpec[] = [
      {id: 'g1', type: 'toy-source', params: {value: 1, log: r.log}, outputs: {out: 'Num'}, gpu: 1},
      {id: 'g2', type: 'toy-source', params: {value: 2, log: r.log}, outputs: {out: 'Num'}, gpu: 1},
    ];
    const {events} = await runPlan(r, makePlan(r.module, specs));
    const notices = events.flatMap((e) => (e.type === 'notice' ? [e.message] : []));
    assert.equal(notices.filter((m) => m.startsWith('no GPU found')).length, 1);
    // The run also says once which backend its keys were planned with.
    assert.equal(notices.filter((m) => m.startsWith('backend: ')).length, 1);
    const r2 = await rig();
    const {events: gpuEvents} = await runPlan(r2, makePlan(r2.module, specs), {pool: DevicePool.fixed(['3'], 1)});
    const devices = gpuEvents.flatMap((e) => (e.type === 'node-started' ? [e.device] : []));
    assert.deepEqual(devices, [{kind: 'gpu', id: '3'}, {kind: 'gpu', id: '3'}]);
  });

  it('an aborted run stops its workers and commits nothing half-done', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [
      {id: 'long', type: 'toy-source', params: {value: 1, sleepMs: 10_000, log: r.log}, outputs: {out: 'Num'}},
      {id: 'next', type: 'toy-add', params: {log: r.log}, inputs: {a: [['long', 'out']]}, outputs: {out: 'Num'}},
    ]);
    const controller = new AbortController();
    const running = runPlan(r, plan, {signal: controller.signal});
    while ((await r.computed()).length === 0) await new Promise((res) => setTimeout(res, 20));
    controller.abort();
    const {result, store} = await running;
    assert.equal(result.status, 'interrupted');
    assert.deepEqual(result.counts, {ran: 0, cached: 0, failed: 0, skipped: 2});
    assert.deepEqual(await store.list(), []);
  });

  it('a failure stops new starts as soon as it is reported, before its instance hands its device on', async () => {
    // An executor that, like the local one, reports the failure, then frees the device (here: asks at once whether
    // the next instance may start), and only then returns the outcome. Before the fix, the answer was "yes".
    const r = await rig();
    const asked: (string | undefined)[] = [];
    const executor: Executor = {
      kind: 'local',
      workersStarted: 0,
      lookup: () => Promise.resolve({status: 'miss'}),
      has: () => Promise.resolve(true),
      compute(job, control) {
        if (asked.length > 0) return Promise.resolve({status: 'ran', seconds: 0, metrics: {}});
        control.emit({type: 'node-failed', id: job.id, key: job.key, error: 'boom', attempt: 1, willRetry: false});
        asked.push(control.stopped());
        return Promise.resolve({status: 'failed', error: 'boom', seconds: 0});
      },
      close: () => Promise.resolve(),
    };
    const plan = makePlan(r.module, [{id: 'first', type: 'toy-source', params: {value: 1}, outputs: {out: 'Num'}}]);
    const {result} = await runPlan(r, plan, {executor});
    assert.equal(result.status, 'failed');
    assert.deepEqual(asked, ['not started after an earlier failure']);
  });
});

describe('errors are messages', () => {
  it('every byte a node prints reaches the log, also a last line without a newline, in every run', async () => {
    for (let run = 0; run < 3; run++) {
      const r = await rig();
      const plan = makePlan(r.module, [{id: 'p', type: 'toy-print', params: {lines: 200, run}, outputs: {out: 'Num'}}]);
      const {result, events} = await runPlan(r, plan);
      assert.equal(result.status, 'ok');
      const logged = events.flatMap((e) => (e.type === 'node-log' && e.id === 'p' ? [e.message] : []));
      assert.deepEqual(logged.filter((l) => l.startsWith('line ')), Array.from({length: 200}, (_, i) => `line ${i}`));
      assert.ok(logged.includes('last words without newline'), `run ${run}: ${logged.slice(-3).join(' | ')}`);
      assert.ok(logged.includes('to stderr without newline'));
    }
  });

  it('an output that is a symlink or a folder fails that node, not the run', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'target.txt'), 'outside the cache');
    const plan = makePlan(r.module, [
      {id: 'link', type: 'toy-link', params: {target: join(r.dir, 'target.txt')}, outputs: {blob: 'Blob'}},
      {id: 'dir', type: 'toy-dir', params: {}, outputs: {blob: 'Blob'}},
      {id: 'fine', type: 'toy-source', params: {value: 1, sleepMs: 500}, outputs: {out: 'Num'}},
    ]);
    const {result, store} = await runPlan(r, plan, {keepGoing: true});
    assert.equal(result.problem, undefined);
    const byId = Object.fromEntries(result.nodes.map((n) => [n.id, n]));
    assert.equal(byId['link']?.status, 'failed');
    assert.match(byId['link']?.error ?? '', /left blob\.txt \(a symbolic link\) among its outputs; only regular files can be cached/);
    assert.equal(byId['dir']?.status, 'failed');
    assert.match(byId['dir']?.error ?? '', /output 'blob' \(blob\) is a folder; an output must be one regular file/);
    assert.equal(byId['fine']?.status, 'ran');
    assert.deepEqual((await store.list()).map((e) => e.nodeId), ['fine']);
    assert.deepEqual(await readdir(join(r.dir, 'cache', 'tmp')), []);
  });

  it('a node that rewrites its input file in place does not leave a stale hit behind', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [
      {id: 'file', type: 'toy-file', params: {text: 'hello', log: r.log}, outputs: {blob: 'Blob'}},
      {id: 'rewrite', type: 'toy-rewrite', params: {}, inputs: {blob: [['file', 'blob']]}, outputs: {out: 'Text'}},
    ]);
    const first = await runPlan(r, plan);
    assert.equal(first.result.status, 'ok');
    // Not root: the committed file is read-only and the write fails. Root: it succeeds, and the next hit sees it.
    const second = await runPlan(r, plan);
    const corrupt = second.events.filter((e) => e.type === 'cache-corrupt');
    const refused = first.events.some((e) => e.type === 'node-log' && /cannot rewrite: EACCES/.test(e.message));
    if (refused) assert.deepEqual(corrupt, []);
    else assert.match(corrupt[0]?.type === 'cache-corrupt' ? corrupt[0].reason : '', /blob\.txt: changed after it was committed/);
    const hit = await second.store.get(plan.nodes.get('file')?.key ?? '');
    assert.equal(hit.status, 'hit');
    if (hit.status === 'hit') assert.equal(await readFile(join(hit.entry.dir, 'blob.txt'), 'utf8'), 'hello');
  });

  it('a read-only cache or a full disk fails the run with an environment message and a run record, not a crash', async () => {
    for (const [where, code] of [['stage', 'EROFS'], ['tryLock', 'ENOSPC']] as const) {
      const r = await rig();
      const plan = makePlan(r.module, [{id: 'src', type: 'toy-source', params: {value: 1}, outputs: {out: 'Num'}}]);
      const real = await LocalStore.open(join(r.dir, 'cache'));
      const failing = async (): Promise<never> => {
        throw Object.assign(new Error(`${code}: simulated, ${where} '${real.location}'`), {code});
      };
      const store: CacheStore = {
        location: real.location,
        get: (key, options) => real.get(key, options),
        stage: where === 'stage' ? failing : (key) => real.stage(key),
        lock: (key, signal, onWait) => real.lock(key, signal, onWait),
        tryLock: where === 'tryLock' ? failing : (key) => real.tryLock(key),
        list: () => real.list(),
        verify: (options) => real.verify(options),
        remove: (key) => real.remove(key),
        gc: (options) => real.gc(options),
      };
      const events: RunEvent[] = [];
      const result = await execute(plan, store, {pool: DevicePool.fixed([], 1), graceMs: 200}, (e) => events.push(e));
      assert.equal(result.status, 'failed');
      assert.equal(result.problem?.kind, 'environment');
      assert.match(result.problem?.message ?? '', new RegExp(`^cannot use the cache in .*: ${code}: simulated`));
      assert.equal(result.nodes[0]?.status, 'failed');
      assert.equal(events.at(-1)?.type, 'run-finished');
    }
  });
});

describe('timeouts', () => {
  it('an instance past its timeout fails, its worker is killed, nothing is committed, and the others run', async () => {
    const r = await rig();
    // toy-source sleeps without looking at its abort signal, so stopping it takes SIGTERM.
    const plan = makePlan(r.module, [
      {id: 'stuck', type: 'toy-source', params: {value: 1, sleepMs: 60_000, log: r.log}, outputs: {out: 'Num'}, timeoutMs: 300},
      {id: 'after', type: 'toy-add', params: {log: r.log}, inputs: {a: [['stuck', 'out']]}, outputs: {out: 'Num'}},
      {id: 'quick', type: 'toy-source', params: {value: 2, sleepMs: 1_000, log: r.log}, outputs: {out: 'Num'}},
    ]);
    const t0 = performance.now();
    const {result, store, events} = await runPlan(r, plan, {keepGoing: true, retries: 1});
    assert.ok(performance.now() - t0 < 20_000);
    const status = Object.fromEntries(result.nodes.map((n) => [n.id, n.status]));
    assert.deepEqual(status, {stuck: 'failed', after: 'skipped', quick: 'ran'});
    assert.equal(result.nodes.find((n) => n.id === 'stuck')?.error, 'timed out after 300ms (its worker was stopped)');
    // A timeout is a failure like any other: it is retried.
    assert.deepEqual(events.flatMap((e) => (e.type === 'node-failed' ? [e.willRetry] : [])), [true, false]);
    assert.deepEqual((await store.list()).map((e) => e.nodeId), ['quick']);
  });

  it('--timeout applies to instances without their own timeout:', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [
      {id: 'slow', type: 'toy-source', params: {value: 1, sleepMs: 60_000, log: r.log}, outputs: {out: 'Num'}},
      {id: 'own', type: 'toy-source', params: {value: 2, sleepMs: 600, log: r.log}, outputs: {out: 'Num'}, timeoutMs: 30_000},
    ]);
    const {result} = await runPlan(r, plan, {keepGoing: true, timeoutMs: 400});
    const status = Object.fromEntries(result.nodes.map((n) => [n.id, n.status]));
    assert.deepEqual(status, {slow: 'failed', own: 'ran'});
  });
});

describe('waiting on a lock', () => {
  it('an instance whose key is locked elsewhere says so, naming the holder, then takes the result', async () => {
    const r = await rig();
    const plan = makePlan(r.module, [{id: 'src', type: 'toy-source', params: {value: 1, log: r.log}, outputs: {out: 'Num'}}]);
    const store = await LocalStore.open(join(r.dir, 'cache'));
    const held = await store.lock(plan.nodes.get('src')?.key ?? '');
    const events: RunEvent[] = [];
    const running = execute(plan, store, {pool: DevicePool.fixed([], 1), graceMs: 200}, (e) => events.push(e));
    while (!events.some((e) => e.type === 'node-waiting')) await new Promise((res) => setTimeout(res, 20));
    const waiting = events.find((e) => e.type === 'node-waiting');
    assert.deepEqual(waiting, {type: 'node-waiting', id: 'src', key: plan.nodes.get('src')?.key, holder: `pid ${process.pid} on ${hostname()}`});
    assert.equal(formatEvent(waiting as RunEvent), `waiting   src: its key is being computed by pid ${process.pid} on ${hostname()}`);
    await held.release();
    const result = await running;
    assert.equal(result.status, 'ok');
    assert.deepEqual(await r.computed(), ['src']);
  });
});

describe('inputs that vanish from the cache', () => {
  const specs = (r: Rig, sleepMs: number): ToySpec[] => [
    {id: 'file', type: 'toy-file', params: {text: 'hello', log: r.log}, outputs: {blob: 'Blob'}},
    {id: 'cat', type: 'toy-cat', params: {sleepMs, log: r.log}, inputs: {blob: [['file', 'blob']]}, outputs: {out: 'Text'}},
  ];

  it('an input removed while its consumer runs is computed again, and the consumer reruns instead of failing', async () => {
    const r = await rig();
    const plan = makePlan(r.module, specs(r, 1_000));
    const store = await LocalStore.open(join(r.dir, 'cache'));
    const events: RunEvent[] = [];
    const running = execute(plan, store, {pool: DevicePool.fixed([], 2), graceMs: 200}, (e) => events.push(e));
    // Removed behind the run's back (by hand, or by a gc that does not know leases), while cat sleeps before reading.
    while (!(await r.computed()).includes('cat')) await new Promise((res) => setTimeout(res, 20));
    assert.equal(await store.remove(plan.nodes.get('file')?.key ?? ''), true);
    const result = await running;
    assert.equal(result.status, 'ok', JSON.stringify(result.nodes));
    assert.deepEqual(await r.computed(), ['file', 'cat', 'file', 'cat']);
    assert.deepEqual(result.counts, {ran: 2, cached: 0, failed: 0, skipped: 0});
    assert.ok(events.some((e) => e.type === 'notice' && /cache entry of file vanished/.test(e.message)));
    assert.ok(!events.some((e) => e.type === 'node-failed'));
  });

  it('a cached input that vanishes before its consumer starts is computed again first', async () => {
    const r = await rig();
    const plan = makePlan(r.module, specs(r, 0));
    const real = await LocalStore.open(join(r.dir, 'cache'));
    await execute(makePlan(r.module, specs(r, 0).slice(0, 1)), real, {pool: DevicePool.fixed([], 1)}, () => undefined);
    const fileKey = plan.nodes.get('file')?.key ?? '';
    // A store whose first hit on file's key is removed right after it was looked up.
    let removedOnce = false;
    const store: CacheStore = {
      location: real.location,
      get: async (key, options) => {
        const found = await real.get(key, options);
        if (key === fileKey && found.status === 'hit' && !removedOnce) {
          removedOnce = true;
          await real.remove(key);
        }
        return found;
      },
      stage: (key) => real.stage(key),
      lock: (key, signal) => real.lock(key, signal),
      tryLock: (key) => real.tryLock(key),
      list: () => real.list(),
      verify: (options) => real.verify(options),
      remove: (key) => real.remove(key),
      gc: (options) => real.gc(options),
    };
    const result = await execute(plan, store, {pool: DevicePool.fixed([], 1), graceMs: 200}, () => undefined);
    assert.equal(result.status, 'ok', JSON.stringify(result.nodes));
    assert.deepEqual(await r.computed(), ['file', 'file', 'cat']);
    assert.deepEqual(Object.fromEntries(result.nodes.map((n) => [n.id, n.status])), {file: 'ran', cat: 'ran'});
  });
});

describe('device pool', () => {
  it('parses nvidia-smi -L', () => {
    const out = 'GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-1)\nGPU 1: NVIDIA H100 80GB HBM3 (UUID: GPU-2)\n';
    assert.deepEqual(parseNvidiaSmi(out), ['0', '1']);
    assert.deepEqual(parseNvidiaSmi(''), []);
  });

  it('a deferred pool detects GPUs once, when an instance first asks for one', async () => {
    let detections = 0;
    const detect = async () => {
      detections++;
      return ['4', '5'];
    };
    const pool = DevicePool.deferred({detect, jobs: 2});
    const cpu = await pool.acquire({});
    assert.equal(detections, 0, 'CPU work (or a cached run) never runs nvidia-smi');
    assert.deepEqual(cpu.device, {kind: 'cpu', id: '0'});
    const [a, b] = await Promise.all([pool.acquire({gpu: 1}), pool.acquire({gpu: 1})]);
    assert.equal(detections, 1);
    assert.deepEqual([a.device, b.device], [{kind: 'gpu', id: '4'}, {kind: 'gpu', id: '5'}]);
    assert.deepEqual(pool.gpus, ['4', '5']);
    assert.deepEqual(DevicePool.deferred({gpus: ['1'], detect}).gpus, ['1']);
    assert.equal(detections, 1);
  });

  it('prefers --gpus, then the plan, then detection', async () => {
    const detect = async () => ['7'];
    assert.deepEqual((await DevicePool.create({gpus: ['1'], planGpus: ['2'], detect})).gpus, ['1']);
    assert.deepEqual((await DevicePool.create({planGpus: ['2'], detect})).gpus, ['2']);
    assert.deepEqual((await DevicePool.create({detect, jobs: 3})).gpus, ['7']);
    assert.equal((await DevicePool.create({detect, jobs: 3})).cpuSlots, 3);
  });
});

// ---- Real pipelines: the front-end plus the executor in-process, and the CLI as a spawned process. ----

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** A grid pipeline of toy nodes: `src` shared by all variants, `add` per grid value, `sum` gathering per variant. */
function pipelineYaml(r: Rig, opts: {value?: number; adds?: number[]; sleepMs?: number; fail?: boolean} = {}): string {
  const log = JSON.stringify(r.log);
  return `name: toy
imports: [./toy-nodes.mjs]
grid:
  add: ${JSON.stringify(opts.adds ?? [1, 2])}
nodes:
  src:
    type: toy-source
    with: {value: ${opts.value ?? 1}, log: ${log}}
  add:
    type: toy-add
    in: {a: src}
    with: {add: "\${grid.add}", log: ${log}, sleepMs: ${opts.sleepMs ?? 0}, fail: ${opts.fail === true}}
`;
}

async function analyzeIn(r: Rig, yaml: string): Promise<Plan> {
  await writeFile(join(r.dir, 'p.yaml'), yaml);
  const analyzed = await analyzePipeline(join(r.dir, 'p.yaml'), {cwd: r.dir});
  if (!analyzed.ok) throw new Error(JSON.stringify(analyzed.error));
  return analyzed.value;
}

interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Spawns the CLI from the sources in the rig's folder; `onStart` gets the child (to signal it). */
function cli(r: Rig, args: readonly string[], onStart?: (child: ChildProcess) => void): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, join(REPO, 'runner/cli-main.ts'), ...args], {
      cwd: r.dir,
      env: {...process.env, DISTILLERY_CACHE: '', DISTILLERY_BACKEND: 'cpu'},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => resolve({code, signal, stdout, stderr}));
    onStart?.(child);
  });
}

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('timed out waiting');
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function openStore(r: Rig): Promise<LocalStore> {
  return LocalStore.open(join(r.dir, '.distillery', 'cache'));
}

describe('real pipelines', () => {
  it('recomputes only the variants whose grid value changed, and everything below a changed upstream param', async () => {
    const r = await rig();
    const store = await LocalStore.open(join(r.dir, 'cache'));
    const go = async (yaml: string) => (await execute(await analyzeIn(r, yaml), store, {jobs: 2}, () => undefined)).counts;
    assert.deepEqual(await go(pipelineYaml(r)), {ran: 3, cached: 0, failed: 0, skipped: 0});
    assert.deepEqual(await go(pipelineYaml(r)), {ran: 0, cached: 3, failed: 0, skipped: 0});
    assert.deepEqual(await go(pipelineYaml(r, {adds: [1, 3]})), {ran: 1, cached: 2, failed: 0, skipped: 0});
    assert.deepEqual((await r.computed()).slice(3), ['add{add=3}']);
    assert.deepEqual(await go(pipelineYaml(r, {value: 5, adds: [1, 3]})), {ran: 3, cached: 0, failed: 0, skipped: 0});
  });

  it('run --json emits JSON lines, writes a run record, and results tabulates the variants', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r));
    const first = await cli(r, ['run', 'p.yaml', '--json', '--jobs', '2', '--summary', 'out/summary.json']);
    assert.equal(first.code, 0, first.stderr);
    const events = first.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunEvent);
    assert.equal(events[0]?.type, 'run-started');
    assert.equal(events.at(-1)?.type, 'run-finished');
    assert.equal(events.filter((e) => e.type === 'node-succeeded').length, 3);
    const summaryFile = await readFile(join(r.dir, 'out/summary.json'), 'utf8');
    const summary = JSON.parse(summaryFile) as RunSummary;
    assert.equal(summary.status, 'ok');
    // Big grids: one line per node and per result instance, so the record stays quick to write, read and diff.
    const itemLines = summaryFile.split('\n').filter((line) => line.startsWith('    {"id":'));
    assert.equal(itemLines.length, summary.nodes.length + (summary.results?.length ?? 0));
    assert.ok((summary.results?.length ?? 0) > 0);
    assert.match(summary.runId, /^\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z-[0-9a-f]{4}$/);
    assert.deepEqual(summary.nodes.map((n) => [n.id, n.status]).sort(), [['add{add=1}', 'ran'], ['add{add=2}', 'ran'], ['src', 'ran']]);
    const runs = await readdir(join(r.dir, '.distillery', 'runs'));
    assert.equal(runs.length, 1);
    assert.ok((await readFile(join(r.dir, '.distillery', 'runs', runs[0] ?? '', 'events.jsonl'), 'utf8')).includes('"node-succeeded"'));

    const md = await cli(r, ['results', 'p.yaml']);
    assert.equal(md.code, 0, md.stderr);
    assert.equal(md.stdout, '| instance | add | status | score |\n| --- | --- | --- | --- |\n| add{add=1} | 1 | done | 2 |\n| add{add=2} | 2 | done | 3 |\n');
    const csv = await cli(r, ['results', 'p.yaml', '--format', 'csv', '--set', 'grid.add=[2,7]']);
    assert.equal(csv.stdout, 'instance,add,status,score\nadd{add=2},2,done,3\nadd{add=7},7,missing,\n');
  });

  it('a large summary is written piece by piece, as the same text: one line per node and per result', async () => {
    const r = await rig();
    const {RunRecorder, summaryPieces, summaryText} = await import('../runner/run-record.js');
    const environment = {backend: 'cpu', tfjs: '4.22.0', threads: '1'};
    const node = (i: number) => ({
      id: `step{a=${i}}`, type: 'step', key: i.toString(16).padStart(16, '0'), status: 'cached' as const, seconds: 0, metrics: {v: i / 3},
      keyParts: {type: 'step', implementation: 'abc', params: {a: i, note: 'é∑'}, seed: i, inputs: {x: ['0000000000000000:out']}, environment},
    });
    const summary: RunSummary = {
      pipeline: 'big', file: 'p.yaml', runId: 'r', startedAt: '2026-01-01T00:00:00.000Z', finishedAt: '2026-01-01T00:00:01.000Z', status: 'ok',
      overrides: [], params: {}, grid: {a: [1, 2]},
      results: Array.from({length: 400}, (_, i) => ({id: `step{a=${i}}`, node: 'step', type: 'step', grid: {a: i}})),
      nodes: Array.from({length: 400}, (_, i) => node(i)),
    };
    const pieces = summaryPieces(summary);
    assert.ok(pieces.length > 1, 'more than one piece for a summary this size');
    const text = summaryText(summary);
    assert.ok(text.length > 64 * 1024);
    assert.equal(text, pieces.join(''));
    assert.deepEqual(JSON.parse(text), summary);
    const itemLines = text.split('\n').filter((line) => line.startsWith('    {"id":'));
    assert.equal(itemLines.length, 800);
    assert.ok(text.endsWith('  ]\n}\n'));
    // Empty lists, and no results at all.
    const empty = summaryText({...summary, results: [], nodes: []});
    assert.deepEqual(JSON.parse(empty), {...summary, results: [], nodes: []});
    assert.match(empty, /\n {2}"results": \[\],\n {2}"nodes": \[\]\n\}\n$/);
    const {results: _results, ...noResults} = summary;
    assert.deepEqual(JSON.parse(summaryText(noResults)), noResults);
    // The recorder writes the same text to the run record and to --summary's file.
    const recorder = await RunRecorder.create(r.dir, 'test-run');
    await recorder.finish(summary, join(r.dir, 'out', 'copy.json'));
    assert.equal(await readFile(join(recorder.dir, 'summary.json'), 'utf8'), text);
    assert.equal(await readFile(join(r.dir, 'out', 'copy.json'), 'utf8'), text);
  });

  it('run copies Report outputs out of the cache into .distillery/reports/<pipeline>/ and prints their paths', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), 'name: toy\nimports: [./toy-nodes.mjs]\nnodes:\n  src: {type: toy-source, with: {value: 4}}\n  rep: {type: toy-report, in: {a: src}}\n');
    const result = await cli(r, ['run', 'p.yaml']);
    assert.equal(result.code, 0, result.stderr);
    const published = join('.distillery', 'reports', 'toy', 'page.md');
    assert.match(result.stdout, new RegExp(`report: ${published.replace(/\./g, '\\.')}`));
    assert.equal(await readFile(join(r.dir, published), 'utf8'), '# value 4\n');
    // A cached rerun publishes again (the folder is replaced, not appended to).
    const again = await cli(r, ['run', 'p.yaml']);
    assert.equal(again.code, 0, again.stderr);
    assert.deepEqual((await readdir(join(r.dir, '.distillery', 'reports', 'toy'))).sort(), ['.distillery-published.json', 'page.md']);
  });

  it('a failing node: exit 1, the message in the final summary, the stack only in the run record', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {fail: true}));
    const result = await cli(r, ['run', 'p.yaml', '--jobs', '1']);
    assert.equal(result.code, 1);
    assert.match(result.stdout, /Failed \(1\):\n {2}add\{add=1\}: toy failure in add\{add=1\}/);
    assert.match(result.stdout, /Skipped \(1\):\n {2}add\{add=2\}: not started after an earlier failure/);
    assert.doesNotMatch(result.stdout + result.stderr, /toy-nodes\.mjs:/);
    const runs = await readdir(join(r.dir, '.distillery', 'runs'));
    const summary = JSON.parse(await readFile(join(r.dir, '.distillery', 'runs', runs[0] ?? '', 'summary.json'), 'utf8')) as RunSummary;
    assert.match(summary.nodes.find((n) => n.status === 'failed')?.stack ?? '', /toy-nodes\.mjs/);
    // The failure names the node's log and the run record; every instance that ran has a log.
    const log = join('.distillery', 'runs', runs[0] ?? '', 'logs', 'add{add=1}.log');
    assert.ok(result.stdout.includes(`toy failure in add{add=1} (log: ${log})`), result.stdout);
    assert.ok(result.stdout.includes(`Run record (stacks included): ${join('.distillery', 'runs', runs[0] ?? '', 'summary.json')}`));
    assert.match(await readFile(join(r.dir, log), 'utf8'), /start on cpu \d+, attempt 1\n[^]*FAILED: toy failure in add\{add=1\}\nError: toy failure/);
    assert.match(await readFile(join(r.dir, '.distillery', 'runs', runs[0] ?? '', 'logs', 'src.log'), 'utf8'), /done in/);
    const bad = await cli(r, ['run', 'missing.yaml']);
    assert.equal(bad.code, 2);
  });

  it('run --timeout: a node past it fails with the reason in the summary, exit 1', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {sleepMs: 30_000}));
    const result = await cli(r, ['run', 'p.yaml', '--jobs', '2', '--timeout', '1s']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /Failed \(2\):\n {2}add\{add=1\}: timed out after 1s \(its worker was stopped\)/);
    const store = await openStore(r);
    assert.deepEqual((await store.list()).map((e) => e.nodeId), ['src']);
  });

  it('run on a cache it cannot write to: exit 2 with the system\'s message, and the run record is written', async (t) => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r));
    await openStore(r);
    // Read-only for root too: the immutable attribute (root ignores permission bits).
    const tmp = join(r.dir, '.distillery', 'cache', 'tmp');
    if (spawnSync('chattr', ['+i', tmp]).status !== 0) {
      t.skip('chattr +i is not supported on this file system');
      return;
    }
    try {
      const result = await cli(r, ['run', 'p.yaml']);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, /^distillery run: error: cannot use the cache in .*: EPERM: operation not permitted, mkdir '.*tmp/);
      assert.match(result.stderr, /the run record is in \.distillery\/runs\//);
      assert.doesNotMatch(result.stdout + result.stderr, /\n\s+at /);
      const runs = await readdir(join(r.dir, '.distillery', 'runs'));
      const summary = JSON.parse(await readFile(join(r.dir, '.distillery', 'runs', runs[0] ?? '', 'summary.json'), 'utf8')) as RunSummary;
      assert.equal(summary.status, 'failed');
      assert.match(summary.error ?? '', /EPERM/);
    } finally {
      spawnSync('chattr', ['-i', tmp]);
    }
  });

  it('run | head: a reader that goes away ends the output quietly; the run finishes and writes its record', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {adds: [1, 2, 3], sleepMs: 200}));
    const result = await new Promise<{code: number | null; stderr: string}>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', TSX, join(REPO, 'runner/cli-main.ts'), 'run', 'p.yaml', '--jobs', '1'], {
        cwd: r.dir,
        env: {...process.env, DISTILLERY_CACHE: '', DISTILLERY_BACKEND: 'cpu'},
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Like `head -1`: the first line, then the pipe is closed while the run goes on.
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('error', reject);
      child.on('close', (code) => resolve({code, stderr}));
    });
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
    assert.deepEqual([...(await r.computed())].sort(), ['add{add=1}', 'add{add=2}', 'add{add=3}', 'src']);
    const runs = await readdir(join(r.dir, '.distillery', 'runs'));
    const summary = JSON.parse(await readFile(join(r.dir, '.distillery', 'runs', runs[0] ?? '', 'summary.json'), 'utf8')) as RunSummary;
    assert.equal(summary.status, 'ok');
    assert.equal(summary.nodes.length, 4);
  });

  it('run FILE TARGET... runs only the targets and what they need', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {adds: [1, 2, 3]}));
    const one = await cli(r, ['run', 'p.yaml', 'add{add=2}']);
    assert.equal(one.code, 0, one.stderr);
    assert.deepEqual(await r.computed(), ['src', 'add{add=2}']);
    const byName = await cli(r, ['run', 'p.yaml', 'add']);
    assert.equal(byName.code, 0, byName.stderr);
    assert.deepEqual((await r.computed()).slice(2).sort(), ['add{add=1}', 'add{add=3}']);
    const typo = await cli(r, ['run', 'p.yaml', 'ad{add=2}']);
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /no node or instance 'ad\{add=2\}' in toy; did you mean "add\{add=2\}"\?/);
  });

  it('kill -9 of the runner mid-run leaves a consistent cache; the rerun finishes', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {sleepMs: 1_500}));
    const killed = await cli(r, ['run', 'p.yaml', '--jobs', '2'], (child) => {
      void waitFor(async () => (await r.computed()).some((id) => id.startsWith('add'))).then(() => child.kill('SIGKILL'));
    });
    assert.equal(killed.signal, 'SIGKILL');
    const store = await openStore(r);
    assert.deepEqual((await store.verify()).problems, []);
    assert.deepEqual((await store.list()).map((e) => e.nodeId), ['src']);
    // Same file, same keys: the rerun pays the interrupted nodes' sleep once more.
    const rerun = await cli(r, ['run', 'p.yaml', '--jobs', '2']);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.match(rerun.stdout, /ok: 2 ran, 1 cached/);
    assert.deepEqual((await store.verify()).problems, []);
    assert.deepEqual(await readdir(join(r.dir, '.distillery', 'cache', 'tmp')), []);
  });

  it('Ctrl-C exits 130 with nothing half-written', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {sleepMs: 10_000}));
    const interrupted = await cli(r, ['run', 'p.yaml', '--jobs', '2'], (child) => {
      void waitFor(async () => (await r.computed()).some((id) => id.startsWith('add'))).then(() => child.kill('SIGINT'));
    });
    assert.equal(interrupted.code, 130, interrupted.stderr);
    const store = await openStore(r);
    assert.deepEqual((await store.list()).map((e) => e.nodeId), ['src']);
    assert.deepEqual(await readdir(join(r.dir, '.distillery', 'cache', 'tmp')), []);
    const runs = await readdir(join(r.dir, '.distillery', 'runs'));
    const summary = JSON.parse(await readFile(join(r.dir, '.distillery', 'runs', runs[0] ?? '', 'summary.json'), 'utf8')) as RunSummary;
    assert.equal(summary.status, 'interrupted');
  });

  it('two concurrent runners on one cache compute each key once', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipelineYaml(r, {sleepMs: 300, adds: [1, 2, 3]}));
    const [a, b] = await Promise.all([cli(r, ['run', 'p.yaml', '--jobs', '2']), cli(r, ['run', 'p.yaml', '--jobs', '2'])]);
    assert.deepEqual([a.code, b.code], [0, 0], a.stderr + b.stderr);
    const computed = await r.computed();
    assert.deepEqual([...computed].sort(), ['add{add=1}', 'add{add=2}', 'add{add=3}', 'src']);
  });
});
