/**
 * The life of one node instance whose key missed the cache, in the process that computes it: take a device and the
 * key's lock, look the key up again (another process may have just computed it), resolve the input keys through the
 * store to local files, run the node in a worker process (with retries), commit the outputs atomically, and emit the
 * events of all this. The local executor runs it for every instance it computes; a cluster worker (`distillery
 * worker`) runs it for every job it takes, so both behave the same.
 *
 * It never emits `node-cached` or `node-skipped`: it says so in its outcome, and the caller, who knows which run the
 * instance belongs to, reports it.
 */
import type {CacheEntry, CacheStore, HeldLock} from '../cache/store.js';
import {CommitRefused} from '../cache/store.js';
import type {DevicePool, Lease} from './device-pool.js';
import type {EventSink} from './events.js';
import type {PortableJob} from './portable-job.js';
import {unreachable} from './unreachable.js';
import {storeLookup} from './store-lookup.js';
import type {KeyLookup} from './store-lookup.js';
import type {WorkerHost} from './worker-host.js';
import type {InputSource, JobInput, WorkerJob} from './worker-protocol.js';

export {storeLookup} from './store-lookup.js';
export type {KeyLookup} from './store-lookup.js';

/** How an instance ended. */
export type InstanceOutcome =
  /** Another process committed the key meanwhile. */
  | {readonly status: 'cached'; readonly metrics: Readonly<Record<string, number>>; readonly entry?: CacheEntry}
  | {readonly status: 'ran'; readonly seconds: number; readonly metrics: Readonly<Record<string, number>>; readonly entry?: CacheEntry}
  | {readonly status: 'failed'; readonly error: string; readonly stack?: string; readonly seconds: number}
  | {readonly status: 'skipped'; readonly reason: string}
  /** Input entries that are not in the store (removed since they were computed): compute them again, then retry. */
  | {readonly status: 'inputs-missing'; readonly keys: readonly string[]};

/** What the lifecycle needs from its caller. */
export interface InstanceContext {
  readonly store: CacheStore;
  /** How the key is looked up once its lock is held (default: the store's `get`). */
  readonly lookup?: (key: string) => Promise<KeyLookup>;
  readonly pool: DevicePool;
  readonly workers: WorkerHost;
  /** The module to load (absolute path or `builtin:<type>`), resolved from the job. */
  readonly module: string;
  /** Have the node's process check the module's implementation hash against the job's before running it. */
  readonly verifyImplementation?: boolean;
  /** Extra attempts after a node failure. */
  readonly retries: number;
  /** The limit for an instance whose node sets no `timeout:`. */
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  readonly emit: EventSink;
  /** Recorded in the manifest of what it commits. */
  readonly producer: {readonly host: string; readonly distilleryVersion: string};
  /** Why nothing new may start now (the run is stopping), checked before a device is used. */
  stopped(): string | undefined;
  /** Emits a notice the first time it is given (per caller), e.g. that GPU nodes run on CPU slots. */
  noteOnce(message: string): void;
  /** The name of this process's machine in a cluster, put on `node-started`. */
  readonly worker?: string;
}

/** Thrown when the run was aborted while waiting for a device or the lock. */
class Interrupted extends Error {}

/** Runs `job` (see the module comment). Rejects only for problems outside the node (the cache's folder, a bug). */
export async function runInstance(job: PortableJob, ctx: InstanceContext): Promise<InstanceOutcome> {
  const {store, pool, signal} = ctx;
  const acquire = (): Promise<Lease> =>
    pool.acquire(job.resources, signal).catch(() => {
      throw new Interrupted();
    });
  let lease: Lease | undefined;
  let lock: HeldLock | undefined;
  try {
    const why = ctx.stopped();
    if (why !== undefined) return {status: 'skipped', reason: why};
    lease = await acquire();
    lock = await store.tryLock(job.key);
    if (lock === undefined) {
      // Another process (or another instance with the same key) is computing it: wait without holding a device.
      lease.release();
      lease = undefined;
      lock = await store
        .lock(job.key, signal, (holder) => ctx.emit({type: 'node-waiting', id: job.id, key: job.key, holder}))
        .catch(() => {
          throw new Interrupted();
        });
    }
    // The other holder may have just committed it.
    const now = await (ctx.lookup ?? ((key: string) => storeLookup(store, key)))(job.key);
    switch (now.status) {
      case 'hit':
        return {status: 'cached', metrics: now.manifest.metrics, ...(now.entry === undefined ? {} : {entry: now.entry})};
      case 'corrupt':
        ctx.emit({type: 'cache-corrupt', id: job.id, key: job.key, reason: now.reason});
        break;
      case 'miss':
        break;
      default:
        return unreachable(now);
    }
    lease ??= await acquire();
    const whyNot = ctx.stopped();
    if (whyNot !== undefined) return {status: 'skipped', reason: whyNot};
    return await compute(job, lease, ctx);
  } catch (error) {
    if (error instanceof Interrupted) return {status: 'skipped', reason: 'interrupted'};
    throw error;
  } finally {
    lease?.release();
    await lock?.release();
  }
}

/** The job's inputs as local files, or the keys the store does not have. */
async function resolveInputs(job: PortableJob, store: CacheStore): Promise<{inputs: Record<string, JobInput>} | {missing: string[]} | {error: string}> {
  const inputs: Record<string, JobInput> = {};
  const missing: string[] = [];
  for (const [port, input] of Object.entries(job.inputs)) {
    const sources: InputSource[] = [];
    for (const [i, source] of input.sources.entries()) {
      const found = await store.get(source.key);
      if (found.status !== 'hit') {
        missing.push(source.key);
        continue;
      }
      const out = found.entry.manifest.outputs[source.port];
      if (out === undefined) return {error: `upstream '${input.upstream[i]?.id ?? source.key}' has no output '${source.port}' in its cache entry`};
      sources.push({format: out.format, path: `${found.entry.dir}/${out.file}`});
    }
    inputs[port] = {many: input.many, sources, upstream: input.upstream};
  }
  return missing.length > 0 ? {missing: [...new Set(missing)]} : {inputs};
}

/** The input keys that are gone from the store (checked after a failure: a vanished input is no fault of the node). */
async function vanished(job: PortableJob, store: CacheStore): Promise<string[]> {
  const gone = new Set<string>();
  for (const input of Object.values(job.inputs)) {
    for (const source of input.sources) {
      if (!gone.has(source.key) && (await store.get(source.key, {touch: false})).status !== 'hit') gone.add(source.key);
    }
  }
  return [...gone];
}

/** Runs the node (with retries) while holding its lock and a device. */
async function compute(job: PortableJob, lease: Lease, ctx: InstanceContext): Promise<InstanceOutcome> {
  const {store, emit} = ctx;
  if (lease.gpuOnCpu) ctx.noteOnce('no GPU found: nodes asking for a GPU run on CPU slots');
  const resolved = await resolveInputs(job, store);
  if ('missing' in resolved) return {status: 'inputs-missing', keys: resolved.missing};
  if ('error' in resolved) {
    emit({type: 'node-failed', id: job.id, key: job.key, error: resolved.error, attempt: 1, willRetry: false});
    return {status: 'failed', error: resolved.error, seconds: 0};
  }
  const timeoutMs = job.timeoutMs ?? ctx.timeoutMs;
  for (let attempt = 1; ; attempt++) {
    const staging = await store.stage(job.key);
    const workerJob: WorkerJob = {
      id: job.id,
      type: job.type,
      module: ctx.module,
      ...(ctx.verifyImplementation === true ? {implementation: job.implementation} : {}),
      params: job.params,
      seed: job.seed,
      device: lease.device,
      stageDir: staging.dir,
      inputs: resolved.inputs,
      outputs: job.outputs,
    };
    emit({
      type: 'node-started',
      id: job.id,
      key: job.key,
      device: lease.device,
      attempt,
      ...(ctx.worker === undefined ? {} : {worker: ctx.worker}),
    });
    const startedAt = new Date();
    const t0 = performance.now();
    const outcome = await ctx.workers.run(workerJob, {
      exclusive: (job.resources.gpu ?? 0) > 0,
      ...(lease.device.kind === 'gpu' ? {cudaVisibleDevices: lease.device.id} : {}),
      ...(ctx.signal === undefined ? {} : {signal: ctx.signal}),
      ...(timeoutMs === undefined ? {} : {timeoutMs}),
      listener: {
        progress: (fraction, info) =>
          emit(info === undefined ? {type: 'node-progress', id: job.id, fraction} : {type: 'node-progress', id: job.id, fraction, info}),
        log: (message) => emit({type: 'node-log', id: job.id, message}),
        metric: (name, value) => emit({type: 'node-metric', id: job.id, name, value}),
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
            producer: {nodeId: job.id, type: job.type, ...ctx.producer},
          });
        } catch (error) {
          if (!(error instanceof CommitRefused)) throw error;
          // What the node left cannot be cached (a symlink, a folder as an output): the node failed, not the run.
          await staging.discard();
          emit({type: 'node-failed', id: job.id, key: job.key, error: error.message, attempt, willRetry: false});
          return {status: 'failed', seconds, error: error.message};
        }
        emit({type: 'node-succeeded', id: job.id, key: job.key, seconds});
        return {status: 'ran', seconds, metrics: outcome.metrics, entry};
      }
      case 'aborted':
        await staging.discard();
        return {status: 'skipped', reason: 'interrupted'};
      case 'error': {
        await staging.discard();
        // A node process ended by the signal that is stopping this one (a SIGTERM to the whole process group, as
        // systemd sends) did not fail: it was interrupted.
        if (ctx.signal?.aborted === true) return {status: 'skipped', reason: 'interrupted'};
        // An input removed while the node read it is no fault of the node: recompute the input, then run again.
        const gone = await vanished(job, store);
        if (gone.length > 0) return {status: 'inputs-missing', keys: gone};
        const willRetry = attempt <= ctx.retries && ctx.stopped() === undefined;
        const stack = outcome.stack === undefined ? {} : {stack: outcome.stack};
        emit({type: 'node-failed', id: job.id, key: job.key, error: outcome.message, ...stack, attempt, willRetry});
        if (willRetry) continue;
        return {status: 'failed', seconds, error: outcome.message, ...stack};
      }
      default:
        return unreachable(outcome);
    }
  }
}
