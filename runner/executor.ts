/**
 * Runs a plan: every instance whose key is not cached runs in a worker, bounded by the device pool; results are
 * committed to the cache atomically; events go to the sink.
 *
 * Each instance's execution is one memoised promise, started for all instances at once and awaiting its upstream
 * promises, so the schedule is simply "whatever is ready and has a device". Failure modes: by default no new instance
 * starts after one fails (running ones finish); `keepGoing` runs everything not downstream of a failure.
 */
import {availableParallelism, hostname} from 'node:os';
import {setMaxListeners} from 'node:events';
import type {CacheEntry, CacheStore, HeldLease, HeldLock} from '../cache/store.js';
import {CommitRefused} from '../cache/store.js';
import type {JsonObject} from '../nodes/api.js';
import type {KeyParts, Plan, PlannedNode} from './plan.js';
import type {EventSink, NodeOutcome, OutcomeCounts, RunStatus} from './events.js';
import {describeBackend} from '../ml/backend-probe.js';
import {DevicePool} from './device-pool.js';
import type {Lease} from './device-pool.js';
import {WorkerHost} from './worker-host.js';
import type {JobInput, WorkerJob} from './worker-protocol.js';
import {distilleryVersion} from './distillery-version.js';
import {unreachable} from './unreachable.js';
import {workerEnvironment} from './worker-env.js';
import {classifyError} from './error-kind.js';

/** Execution options. */
export interface ExecuteOptions {
  /** CPU slots (`--jobs`); default: the core count. */
  readonly jobs?: number;
  /** GPU ids (`--gpus 0,1`); default: the plan's, else `nvidia-smi -L`. */
  readonly gpus?: readonly string[];
  readonly keepGoing?: boolean;
  /** Extra attempts for a failing instance. */
  readonly retries?: number;
  /** Ctrl-C / SIGTERM. */
  readonly signal?: AbortSignal;
  /** A ready pool (tests); built from jobs/gpus otherwise. */
  readonly pool?: DevicePool;
  /** Base environment of workers. */
  readonly env?: NodeJS.ProcessEnv;
  /** Grace period when stopping workers. */
  readonly graceMs?: number;
  /** Run id for the `run-started` event. */
  readonly runId?: string;
  /** `--timeout`: the longest an instance may run, for instances without their own `timeout:`. */
  readonly timeoutMs?: number;
}

/** One instance's line in the run summary. */
export interface NodeReport {
  readonly id: string;
  readonly type: string;
  readonly key: string;
  readonly keyParts: KeyParts;
  readonly status: NodeOutcome;
  readonly seconds: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly error?: string;
  readonly stack?: string;
  /** Why it was skipped. */
  readonly reason?: string;
}

/**
 * A failure that is not a node's fault: the environment (a full disk, a read-only cache: exit code 2 with the
 * message) or a bug in distillery (an internal error). The first one of a run is reported here.
 */
export interface RunProblem {
  readonly kind: 'environment' | 'internal';
  readonly message: string;
}

/** What `execute` resolves to. */
export interface ExecuteResult {
  readonly status: RunStatus;
  /** Set when an instance failed for a reason outside its node (see RunProblem). */
  readonly problem?: RunProblem;
  /** In plan order. */
  readonly nodes: readonly NodeReport[];
  readonly counts: OutcomeCounts;
  /** Worker processes started (0 for a fully cached run). */
  readonly workersStarted: number;
}

interface Done {
  readonly report: NodeReport;
  /** The entry holding its outputs (cached or ran). */
  readonly entry?: CacheEntry;
}

/** Thrown inside the scheduler when the run was aborted while waiting; becomes a `skipped` report. */
class Interrupted extends Error {}

/**
 * CPU slots when `--jobs` is not given: one per core, except that a backend with a fixed per-node thread count
 * (libtorch: `threads` in the plan's environment) gets cores / threads slots, so parallel nodes do not oversubscribe.
 */
function defaultJobs(plan: Plan): {jobs?: number} {
  const first = plan.nodes.values().next();
  const threads = first.done === true ? NaN : Number(first.value.keyParts.environment['threads']);
  if (!Number.isInteger(threads) || threads < 1) return {};
  return {jobs: Math.max(1, Math.floor(availableParallelism() / threads))};
}

/** What `compute` returns when the node failed because an input entry disappeared from the cache meanwhile. */
const INPUTS_VANISHED = Symbol('inputs vanished');

/**
 * How often a node goes back to recompute inputs that vanished from the cache (removed by hand, or by a gc that
 * does not see this run's lease, such as one of an older version) before it fails.
 */
const MAX_INPUT_REFRESHES = 3;

/** Errors of writing a lease into a cache this process may only read: the run goes on without the lease. */
const READ_ONLY_CODES: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'EROFS']);

/** Executes `plan` against `store`. */
export async function execute(plan: Plan, store: CacheStore, options: ExecuteOptions, emit: EventSink): Promise<ExecuteResult> {
  const started = performance.now();
  const signal = options.signal;
  // Every instance waiting for a device or a lock listens to the signal: thousands are normal, not a leak.
  if (signal !== undefined) setMaxListeners(0, signal);
  const pool =
    options.pool ??
    DevicePool.deferred({
      ...(options.gpus === undefined ? {} : {gpus: options.gpus}),
      ...(plan.gpus === undefined ? {} : {planGpus: plan.gpus}),
      ...(options.jobs === undefined ? defaultJobs(plan) : {jobs: options.jobs}),
    });
  const workers = new WorkerHost({
    maxIdle: pool.cpuSlots,
    ...(options.graceMs === undefined ? {} : {graceMs: options.graceMs}),
    env: workerEnvironment(options.env ?? process.env, pool.cpuSlots),
  });
  const retries = Math.max(0, options.retries ?? 0);
  const producerBase = {host: hostname(), distilleryVersion: distilleryVersion()};
  let failed = false;
  let problem: RunProblem | undefined;
  let noticedGpuOnCpu = false;
  let noticedBackend = false;
  const memo = new Map<string, Promise<Done>>();
  emit({
    type: 'run-started',
    runId: options.runId ?? '',
    plan: {pipeline: plan.name, file: plan.file, nodes: plan.order.length, variants: plan.variants.length},
  });
  const runLease = await takeLease(plan, store, emit, signal);

  const stopped = (): string | undefined => {
    if (signal?.aborted === true) return 'interrupted';
    if (failed && options.keepGoing !== true) return 'not started after an earlier failure';
    return undefined;
  };

  const report = (node: PlannedNode, status: NodeOutcome, extra: Partial<NodeReport> = {}): NodeReport => ({
    id: node.id,
    type: node.type,
    key: node.key,
    keyParts: node.keyParts,
    status,
    seconds: 0,
    metrics: {},
    ...extra,
  });

  const skip = (node: PlannedNode, reason: string): Done => {
    emit({type: 'node-skipped', id: node.id, reason});
    return {report: report(node, 'skipped', {reason})};
  };

  const lookup = async (node: PlannedNode): Promise<CacheEntry | undefined> => {
    const found = await store.get(node.key);
    switch (found.status) {
      case 'hit':
        return found.entry;
      case 'miss':
        return undefined;
      case 'corrupt':
        emit({type: 'cache-corrupt', id: node.id, key: node.key, reason: found.reason});
        return undefined;
      default:
        return unreachable(found);
    }
  };

  /**
   * An instance that threw instead of finishing: the error becomes its failure (with the stack kept for the run
   * record), so one broken instance never takes the run, and its record, down with it.
   */
  const crashed = (node: PlannedNode, error: unknown): Done => {
    failed = true;
    const e = classifyError(error);
    const message = e.kind === 'environment' ? `cannot use the cache in ${store.location}: ${e.message}` : `internal error: ${e.message}`;
    problem ??= {kind: e.kind, message};
    const stack = e.stack === undefined ? {} : {stack: e.stack};
    emit({type: 'node-failed', id: node.id, key: node.key, error: message, ...stack, attempt: 1, willRetry: false});
    return {report: report(node, 'failed', {error: message, ...stack})};
  };

  const cached = (node: PlannedNode, entry: CacheEntry): Done => {
    emit({type: 'node-cached', id: node.id, key: node.key});
    return {report: report(node, 'cached', {metrics: entry.manifest.metrics}), entry};
  };

  const jobInputs = (node: PlannedNode, upstream: ReadonlyMap<string, Done>): Record<string, JobInput> => {
    const inputs: Record<string, JobInput> = {};
    for (const input of node.inputs) {
      const sources = input.from.map((fromId, i) => {
        const port = input.fromPort[i] ?? '';
        const entry = upstream.get(fromId)?.entry;
        const out = entry?.manifest.outputs[port];
        if (entry === undefined || out === undefined) {
          throw new Error(`upstream '${fromId}' has no output '${port}' in its cache entry`);
        }
        return {format: out.format, path: `${entry.dir}/${out.file}`};
      });
      const upstreamInfo = input.from.map((fromId) => {
        const up = plan.nodes.get(fromId);
        return {id: fromId, type: up?.type ?? '', grid: up?.grid ?? {}};
      });
      inputs[input.port] = {many: input.many, sources, upstream: upstreamInfo};
    }
    return inputs;
  };

  /** The upstream instances whose cache entries are gone (a hit is a cheap manifest read and size check). */
  const vanished = async (upstream: ReadonlyMap<string, Done>): Promise<string[]> => {
    const gone: string[] = [];
    for (const [upId, up] of upstream) {
      if (up.entry !== undefined && (await store.get(up.entry.key, {touch: false})).status !== 'hit') gone.push(upId);
    }
    return gone;
  };

  /** Runs the instance in a worker (with retries) while holding its lock and a device. */
  const compute = async (
    node: PlannedNode,
    upstream: ReadonlyMap<string, Done>,
    lease: Lease,
  ): Promise<Done | typeof INPUTS_VANISHED> => {
    if (!noticedBackend) {
      // Said once, when something first runs (a cached run computes nothing, so its backend does not matter).
      noticedBackend = true;
      emit({type: 'notice', message: describeBackend(node.keyParts.environment, options.env ?? process.env)});
    }
    if (lease.gpuOnCpu && !noticedGpuOnCpu) {
      noticedGpuOnCpu = true;
      emit({type: 'notice', message: 'no GPU found: nodes asking for a GPU run on CPU slots'});
    }
    let inputs: Record<string, JobInput>;
    try {
      inputs = jobInputs(node, upstream);
    } catch (error) {
      failed = true;
      const message = error instanceof Error ? error.message : String(error);
      emit({type: 'node-failed', id: node.id, key: node.key, error: message, attempt: 1, willRetry: false});
      return {report: report(node, 'failed', {error: message})};
    }
    const timeoutMs = node.timeoutMs ?? options.timeoutMs;
    for (let attempt = 1; ; attempt++) {
      const staging = await store.stage(node.key);
      const job: WorkerJob = {
        id: node.id,
        type: node.type,
        module: node.module,
        params: node.params as JsonObject,
        seed: node.seed,
        device: lease.device,
        stageDir: staging.dir,
        inputs,
        outputs: node.outputs,
      };
      emit({type: 'node-started', id: node.id, key: node.key, device: lease.device, attempt});
      const startedAt = new Date();
      const t0 = performance.now();
      const outcome = await workers.run(job, {
        exclusive: (node.resources.gpu ?? 0) > 0,
        ...(lease.device.kind === 'gpu' ? {cudaVisibleDevices: lease.device.id} : {}),
        ...(signal === undefined ? {} : {signal}),
        ...(timeoutMs === undefined ? {} : {timeoutMs}),
        listener: {
          progress: (fraction, info) =>
            emit(info === undefined ? {type: 'node-progress', id: node.id, fraction} : {type: 'node-progress', id: node.id, fraction, info}),
          log: (message) => emit({type: 'node-log', id: node.id, message}),
          metric: (name, value) => emit({type: 'node-metric', id: node.id, name, value}),
        },
      });
      const seconds = (performance.now() - t0) / 1000;
      switch (outcome.status) {
        case 'ok': {
          let entry: CacheEntry;
          try {
            entry = await staging.commit({
              outputs: outcome.outputs,
              metrics: outcome.metrics,
              timings: {startedAt: startedAt.toISOString(), seconds},
              producer: {nodeId: node.id, type: node.type, ...producerBase},
            });
          } catch (error) {
            if (!(error instanceof CommitRefused)) throw error;
            // What the node left cannot be cached (a symlink, a folder as an output): the node failed, not the run.
            await staging.discard();
            failed = true;
            emit({type: 'node-failed', id: node.id, key: node.key, error: error.message, attempt, willRetry: false});
            return {report: report(node, 'failed', {seconds, error: error.message})};
          }
          emit({type: 'node-succeeded', id: node.id, key: node.key, seconds});
          return {report: report(node, 'ran', {seconds, metrics: outcome.metrics}), entry};
        }
        case 'aborted':
          await staging.discard();
          return skip(node, 'interrupted');
        case 'error': {
          await staging.discard();
          // An input removed while the node read it is no fault of the node: recompute the input, then run again.
          if ((await vanished(upstream)).length > 0) return INPUTS_VANISHED;
          const willRetry = attempt <= retries && stopped() === undefined;
          emit({
            type: 'node-failed',
            id: node.id,
            key: node.key,
            error: outcome.message,
            ...(outcome.stack === undefined ? {} : {stack: outcome.stack}),
            attempt,
            willRetry,
          });
          if (willRetry) continue;
          failed = true;
          return {
            report: report(node, 'failed', {
              seconds,
              error: outcome.message,
              ...(outcome.stack === undefined ? {} : {stack: outcome.stack}),
            }),
          };
        }
        default:
          return unreachable(outcome);
      }
    }
  };

  /** Runs `id` again (its entry vanished), unless another consumer already did; resolves to its new outcome. */
  const refresh = (id: string, stale: Promise<Done> | undefined): Promise<Done> => {
    if (memo.get(id) === stale) {
      emit({type: 'notice', message: `the cache entry of ${id} vanished while this run needed it (removed by another process?): computing it again`});
      memo.set(id, run(id));
    }
    return runMemo(id);
  };

  const run = async (id: string): Promise<Done> => {
    const node = plan.nodes.get(id);
    if (node === undefined) throw new Error(`Internal error: plan has no node '${id}'`);
    const upIds = [...new Set(node.inputs.flatMap((i) => i.from))].sort();
    try {
      for (let round = 0; ; round++) {
        const done = await attempt(node, upIds, round);
        if (done !== INPUTS_VANISHED) return done;
      }
    } catch (error) {
      return crashed(node, error);
    }
  };

  /** One try at an instance: its inputs, then the cache, then a worker. */
  const attempt = async (node: PlannedNode, upIds: readonly string[], round: number): Promise<Done | typeof INPUTS_VANISHED> => {
    const promises = new Map(upIds.map((u) => [u, runMemo(u)]));
    const ups = await Promise.all(promises.values());
    const upstream = new Map(upIds.map((u, i) => [u, ups[i] as Done]));
    for (const [upId, up] of upstream) {
      if (up.report.status === 'failed' || up.report.status === 'skipped') {
        return skip(node, `upstream ${upId} ${up.report.status === 'failed' ? 'failed' : 'was skipped'}`);
      }
    }
    const hit = await lookup(node);
    if (hit !== undefined) return cached(node, hit);
    // Before taking a device (recomputing an input needs one): every input must still be in the cache.
    const gone = await vanished(upstream);
    if (gone.length > 0) {
      if (round >= MAX_INPUT_REFRESHES) {
        failed = true;
        const message = `input${gone.length > 1 ? 's' : ''} ${gone.join(', ')} vanished from the cache ${round} times while this run needed ${gone.length > 1 ? 'them' : 'it'}; is something else deleting cache entries?`;
        emit({type: 'node-failed', id: node.id, key: node.key, error: message, attempt: 1, willRetry: false});
        return {report: report(node, 'failed', {error: message})};
      }
      await Promise.all(gone.map((upId) => refresh(upId, promises.get(upId))));
      return INPUTS_VANISHED;
    }
    let lease: Lease | undefined;
    let lock: HeldLock | undefined;
    try {
      const why = stopped();
      if (why !== undefined) return skip(node, why);
      lease = await pool.acquire(node.resources, signal).catch(() => {
        throw new Interrupted();
      });
      lock = await store.tryLock(node.key);
      if (lock === undefined) {
        // Another runner (or another instance with the same key) is computing it: wait without holding a device.
        lease.release();
        lease = undefined;
        lock = await store.lock(node.key, signal, (holder) => emit({type: 'node-waiting', id: node.id, key: node.key, holder})).catch(() => {
          throw new Interrupted();
        });
      }
      // The other holder may have just committed it.
      const now = await lookup(node);
      if (now !== undefined) return cached(node, now);
      lease ??= await pool.acquire(node.resources, signal).catch(() => {
        throw new Interrupted();
      });
      const whyNot = stopped();
      if (whyNot !== undefined) return skip(node, whyNot);
      return await compute(node, upstream, lease);
    } catch (error) {
      if (error instanceof Interrupted) return skip(node, 'interrupted');
      throw error;
    } finally {
      lease?.release();
      await lock?.release();
    }
  };

  const runMemo = (id: string): Promise<Done> => {
    let promise = memo.get(id);
    if (promise === undefined) {
      promise = run(id);
      memo.set(id, promise);
    }
    return promise;
  };

  let results: Done[];
  try {
    await Promise.all(plan.order.map(runMemo));
    // An instance computed again after its entry vanished has a newer outcome than the first one awaited above.
    results = await Promise.all(plan.order.map(runMemo));
  } finally {
    await workers.close();
    await runLease?.release();
  }
  const counts: Record<NodeOutcome, number> = {cached: 0, ran: 0, failed: 0, skipped: 0};
  for (const r of results) counts[r.report.status]++;
  const status: RunStatus = signal?.aborted === true ? 'interrupted' : counts.failed > 0 ? 'failed' : 'ok';
  emit({type: 'run-finished', status, counts, seconds: (performance.now() - started) / 1000});
  return {status, ...(problem === undefined ? {} : {problem}), nodes: results.map((r) => r.report), counts, workersStarted: workers.started};
}

/**
 * Registers the run's keys with the store so that a concurrent `gc` keeps them. A cache this process may only read
 * cannot hold a lease: the run goes on (a cached run needs nothing more) and says what that risks.
 */
async function takeLease(plan: Plan, store: CacheStore, emit: EventSink, signal: AbortSignal | undefined): Promise<HeldLease | undefined> {
  if (store.lease === undefined) return undefined;
  const keys = plan.order.map((id) => plan.nodes.get(id)?.key ?? '');
  try {
    return await store.lease(keys, {
      onWait: () => emit({type: 'notice', message: `waiting for a cache gc in progress in ${store.location} to finish`}),
      ...(signal === undefined ? {} : {signal}),
    });
  } catch (error) {
    // Interrupted while waiting for a gc: every instance is then skipped as interrupted.
    if (signal?.aborted === true) return undefined;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || !READ_ONLY_CODES.has(code)) throw error;
    emit({type: 'notice', message: `cannot register this run in the cache (${code}): a concurrent cache gc could remove entries it reads`});
    return undefined;
  }
}
