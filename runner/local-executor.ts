/**
 * The local executor: node instances run in worker processes on this machine, bounded by its device pool (GPU ids
 * and CPU slots). The default; it needs no server.
 */
import {availableParallelism, hostname} from 'node:os';
import {dirname} from 'node:path';
import type {CacheStore} from '../cache/store.js';
import {DevicePool} from './device-pool.js';
import {distilleryVersion} from './distillery-version.js';
import type {ComputeControl, Executor} from './instance-executor.js';
import type {InstanceOutcome, KeyLookup} from './instance-lifecycle.js';
import {runInstance, storeLookup} from './instance-lifecycle.js';
import type {Plan} from './plan.js';
import type {PortableJob} from './portable-job.js';
import {resolveModule} from './portable-job.js';
import {WorkerHost} from './worker-host.js';
import {workerEnvironment} from './worker-env.js';

/** How the local pool is made. */
export interface LocalExecutorOptions {
  /** CPU slots (`--jobs`); default: the core count (see defaultJobs). */
  readonly jobs?: number;
  /** GPU ids (`--gpus 0,1`); default: the plan's, else `nvidia-smi -L`. */
  readonly gpus?: readonly string[];
  /** A ready pool (tests); built from jobs/gpus otherwise. */
  readonly pool?: DevicePool;
  /** Base environment of workers. */
  readonly env?: NodeJS.ProcessEnv;
  /** Grace period when stopping workers. */
  readonly graceMs?: number;
  /** The folder jobs name custom modules relative to (see portable-job.ts); default: the pipeline's folder. */
  readonly projectDir?: string;
}

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

/** Runs instances in local worker processes. */
export class LocalExecutor implements Executor {
  readonly kind = 'local';
  readonly #store: CacheStore;
  readonly #pool: DevicePool;
  readonly #workers: WorkerHost;
  /** What jobs name custom modules relative to: the same folder the scheduler described them from. */
  readonly #projectDir: string;
  readonly #noticed = new Set<string>();
  readonly #producer = {host: hostname(), distilleryVersion: distilleryVersion()};

  private constructor(store: CacheStore, pool: DevicePool, options: LocalExecutorOptions, projectDir: string) {
    this.#store = store;
    this.#pool = pool;
    this.#projectDir = projectDir;
    this.#workers = new WorkerHost({
      maxIdle: pool.cpuSlots,
      ...(options.graceMs === undefined ? {} : {graceMs: options.graceMs}),
      env: workerEnvironment(options.env ?? process.env, pool.cpuSlots),
    });
  }

  /** An executor for `plan` over `store`. */
  static async create(plan: Plan, store: CacheStore, options: LocalExecutorOptions = {}): Promise<LocalExecutor> {
    const pool =
      options.pool ??
      // GPUs are detected when an instance first asks for one: a cached or CPU-only run starts no nvidia-smi.
      DevicePool.deferred({
        ...(options.gpus === undefined ? {} : {gpus: options.gpus}),
        ...(plan.gpus === undefined ? {} : {planGpus: plan.gpus}),
        ...(options.jobs === undefined ? defaultJobs(plan) : {jobs: options.jobs}),
      });
    return new LocalExecutor(store, pool, options, options.projectDir ?? dirname(plan.file));
  }

  get workersStarted(): number {
    return this.#workers.started;
  }

  lookup(key: string): Promise<KeyLookup> {
    return storeLookup(this.#store, key);
  }

  async has(key: string): Promise<boolean> {
    return (await this.#store.get(key, {touch: false})).status === 'hit';
  }

  compute(job: PortableJob, control: ComputeControl): Promise<InstanceOutcome> {
    const module = resolveModule(job, this.#projectDir);
    if (!module.ok) {
      control.emit({type: 'node-failed', id: job.id, key: job.key, error: module.error, attempt: 1, willRetry: false});
      return Promise.resolve({status: 'failed', error: module.error, seconds: 0});
    }
    return runInstance(job, {
      store: this.#store,
      pool: this.#pool,
      workers: this.#workers,
      module: module.value,
      retries: control.retries,
      ...(control.timeoutMs === undefined ? {} : {timeoutMs: control.timeoutMs}),
      ...(control.signal === undefined ? {} : {signal: control.signal}),
      emit: control.emit,
      producer: this.#producer,
      stopped: () => control.stopped(),
      noteOnce: (message) => {
        if (this.#noticed.has(message)) return;
        this.#noticed.add(message);
        control.emit({type: 'notice', message});
      },
    });
  }

  close(): Promise<void> {
    return this.#workers.close();
  }
}
