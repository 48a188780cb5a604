/**
 * The local executor: node instances run in worker processes on this machine, bounded by its device pool (GPU ids
 * and CPU slots). The default; it needs no server.
 */
import {availableParallelism, hostname} from 'node:os';
import {dirname} from 'node:path';
import type {CacheStore} from '../cache/store.js';
import type {DevicePool} from './device-pool.js';
import {distilleryVersion} from './distillery-version.js';
import type {ComputeControl, Executor} from './instance-executor.js';
import type {InstanceOutcome, KeyLookup} from './instance-lifecycle.js';
import {storeLookup} from './store-lookup.js';
import type {Plan} from './plan.js';
import type {PortableJob} from './portable-job.js';
import type {WorkerHost} from './worker-host.js';

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

/** What computing needs, made when an instance is first computed (see LocalExecutor). */
interface Machinery {
  readonly pool: DevicePool;
  readonly workers: WorkerHost;
  readonly runInstance: typeof import('./instance-lifecycle.js').runInstance;
  readonly resolveModule: typeof import('./portable-job.js').resolveModule;
}

/**
 * Runs instances in local worker processes. The device pool, the worker host and the instance lifecycle are loaded
 * when an instance is first computed: a fully cached run only looks keys up, and loading them would be most of its
 * executor's start-up.
 */
export class LocalExecutor implements Executor {
  readonly kind = 'local';
  readonly #store: CacheStore;
  readonly #plan: Plan;
  readonly #options: LocalExecutorOptions;
  /** What jobs name custom modules relative to: the same folder the scheduler described them from. */
  readonly #projectDir: string;
  readonly #noticed = new Set<string>();
  readonly #producer = {host: hostname(), distilleryVersion: distilleryVersion()};
  #machinery: Promise<Machinery> | undefined;
  /** The worker host, once made (for workersStarted and close). */
  #workers: WorkerHost | undefined;

  private constructor(plan: Plan, store: CacheStore, options: LocalExecutorOptions) {
    this.#plan = plan;
    this.#store = store;
    this.#options = options;
    this.#projectDir = options.projectDir ?? dirname(plan.file);
  }

  /** An executor for `plan` over `store`. */
  static async create(plan: Plan, store: CacheStore, options: LocalExecutorOptions = {}): Promise<LocalExecutor> {
    return new LocalExecutor(plan, store, options);
  }

  async #make(): Promise<Machinery> {
    const [{DevicePool}, {WorkerHost}, {workerEnvironment}, {runInstance}, {resolveModule}] = await Promise.all([
      import('./device-pool.js'),
      import('./worker-host.js'),
      import('./worker-env.js'),
      import('./instance-lifecycle.js'),
      import('./portable-job.js'),
    ]);
    const options = this.#options;
    const pool =
      options.pool ??
      // GPUs are detected when an instance first asks for one: a CPU-only run starts no nvidia-smi.
      DevicePool.deferred({
        ...(options.gpus === undefined ? {} : {gpus: options.gpus}),
        ...(this.#plan.gpus === undefined ? {} : {planGpus: this.#plan.gpus}),
        ...(options.jobs === undefined ? defaultJobs(this.#plan) : {jobs: options.jobs}),
      });
    const workers = new WorkerHost({
      maxIdle: pool.cpuSlots,
      ...(options.graceMs === undefined ? {} : {graceMs: options.graceMs}),
      env: workerEnvironment(options.env ?? process.env, pool.cpuSlots),
    });
    this.#workers = workers;
    return {pool, workers, runInstance, resolveModule};
  }

  get workersStarted(): number {
    return this.#workers?.started ?? 0;
  }

  lookup(key: string): Promise<KeyLookup> {
    return storeLookup(this.#store, key);
  }

  async has(key: string): Promise<boolean> {
    return (await this.#store.get(key, {touch: false})).status === 'hit';
  }

  async compute(job: PortableJob, control: ComputeControl): Promise<InstanceOutcome> {
    this.#machinery ??= this.#make();
    const {pool, workers, runInstance, resolveModule} = await this.#machinery;
    const module = resolveModule(job, this.#projectDir);
    if (!module.ok) {
      control.emit({type: 'node-failed', id: job.id, key: job.key, error: module.error, attempt: 1, willRetry: false});
      return {status: 'failed', error: module.error, seconds: 0};
    }
    return runInstance(job, {
      store: this.#store,
      pool,
      workers,
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

  async close(): Promise<void> {
    // A close while the machinery is being made waits for it, so that no worker outlives the executor.
    if (this.#machinery !== undefined) await this.#machinery.catch(() => undefined);
    await this.#workers?.close();
  }
}
