/**
 * One machine of a cluster (`distillery worker`): takes jobs from the queue that its devices can run (GPU jobs only
 * with `--gpus`, one GPU id per job), and for each runs the same lifecycle as a local run (instance-lifecycle.ts):
 * inputs resolved by key through its local cache, then the remote; the node in its own worker processes; the result
 * committed to its local cache, then pushed to the remote; only then is the job reported done.
 *
 * What it refuses (the job fails, and the run says why): a job of another protocol, a custom module outside its
 * project folder or not there, a module whose code is not the job's (checked by the process that loads it), and a
 * job planned for a backend environment it cannot reproduce.
 *
 * Faults: a job whose worker dies (kill -9, machine gone) stays claimed until its BullMQ lock expires (`stallMs`),
 * then another worker's stall check puts it back in the queue; nothing it did is visible, because cache entries are
 * committed and published atomically. Stopping a worker (Ctrl-C, SIGTERM) stops its running nodes and hands their
 * jobs back to the queue at once. A run whose user pressed Ctrl-C publishes the keys nobody waits for any more, and
 * the worker running one of them stops it.
 */
import {hostname} from 'node:os';
import {UnrecoverableError, WaitingError, Worker} from 'bullmq';
import type {Job} from 'bullmq';
import {Redis} from 'ioredis';
import type {RemoteStore} from '../../cache/remote-store.js';
import type {CacheStore} from '../../cache/store.js';
import {TieredStore} from '../../cache/tiered-store.js';
import {canonicalJson} from '../canonical-json.js';
import {DevicePool} from '../device-pool.js';
import {distilleryVersion} from '../distillery-version.js';
import type {InstanceOutcome, KeyLookup} from '../instance-lifecycle.js';
import {runInstance, storeLookup} from '../instance-lifecycle.js';
import {keyEnvironment} from '../key-environment.js';
import type {PortableJob} from '../portable-job.js';
import {resolveModule} from '../portable-job.js';
import type {Result} from '../result.js';
import {fail, ok} from '../result.js';
import {unreachable} from '../unreachable.js';
import {workerEnvironment} from '../worker-env.js';
import {WorkerHost} from '../worker-host.js';
import type {ClusterJobData, ClusterResult} from './cluster-protocol.js';
import {CLUSTER_PROTOCOL, KEY_PREFIX, PRESENCE_RENEW_MS, PRESENCE_TTL_MS, jobIdOf, keyOfJobId, queueNames} from './cluster-protocol.js';
import type {WorkerPresence} from './cluster-protocol.js';
import {EventForwarder} from './event-forwarder.js';
import type {RedisAddress} from './redis-address.js';
import {redactRedis} from './redis-address.js';
import {redisProblem, remoteProblem} from './redis-check.js';
import type {WorkerEventSink} from './worker-events.js';

/** How a worker is set up. */
export interface ClusterWorkerOptions {
  readonly redis: RedisAddress;
  readonly queue: string;
  /** Its name in logs and on the runs' `node-started` events. */
  readonly name: string;
  /** GPU ids it hands out (fake ones are fine for tests); none: it takes no GPU jobs. */
  readonly gpus: readonly string[];
  /** CPU slots: CPU jobs at once. */
  readonly jobs: number;
  /** Its local cache. */
  readonly local: CacheStore;
  /** The remote shared with the runs and the other workers. */
  readonly remote: RemoteStore;
  /** Where custom modules are looked up (see portable-job.ts). */
  readonly projectDir: string;
  /** Base environment of its node processes. */
  readonly env: NodeJS.ProcessEnv;
  /** How long a job stays claimed by a worker that stopped answering before another worker takes it. */
  readonly stallMs: number;
  /** Grace period when stopping node processes. */
  readonly graceMs?: number;
  readonly onEvent: WorkerEventSink;
}

/** Raised when the worker cannot start (Redis or the remote unreachable). */
export class WorkerStartFailed extends Error {}

/** The outcome as it travels: no local paths. */
function portable(outcome: InstanceOutcome): InstanceOutcome {
  if (outcome.status !== 'ran' && outcome.status !== 'cached') return outcome;
  const {entry: _entry, ...rest} = outcome;
  return rest;
}

/** The environment entries as one line, for refusals. */
function describeEnvironment(environment: Readonly<Record<string, string>>): string {
  return Object.entries(environment)
    .map(([k, v]) => `${k} ${v}`)
    .join(', ');
}

/** A running worker. */
export class ClusterWorker {
  readonly #options: ClusterWorkerOptions;
  readonly #pool: DevicePool;
  /** Node processes, one host per backend environment the jobs ask for. */
  readonly #hosts = new Map<string, WorkerHost>();
  readonly #stopping = new AbortController();
  readonly #producer = {host: hostname(), distilleryVersion: distilleryVersion()};
  readonly #workers: Worker<ClusterJobData, ClusterResult>[] = [];
  #subscriber: Redis | undefined;
  #client: Redis | undefined;
  #presence: NodeJS.Timeout | undefined;
  #running = 0;
  /** Jobs handed to this worker and not yet ended (refused ones included), and when the last one ended. */
  #active = 0;
  #idleSince = performance.now();
  #closed: Promise<void> | undefined;
  #lastProblem: string | undefined;

  private constructor(options: ClusterWorkerOptions) {
    this.#options = options;
    this.#pool = DevicePool.fixed(options.gpus, options.jobs);
  }

  /** Connects and starts taking jobs; rejects with WorkerStartFailed when Redis or the remote cannot be reached. */
  static async start(options: ClusterWorkerOptions): Promise<ClusterWorker> {
    const problem = (await redisProblem(options.redis)) ?? (await remoteProblem(options.remote));
    if (problem !== undefined) throw new WorkerStartFailed(problem);
    const worker = new ClusterWorker(options);
    await worker.#start();
    return worker;
  }

  async #start(): Promise<void> {
    const {redis, queue, name, gpus, jobs, stallMs} = this.#options;
    const names = queueNames(queue);
    const connection = {...redis.connection, maxRetriesPerRequest: null};
    const settings = {
      connection,
      prefix: KEY_PREFIX,
      lockDuration: stallMs,
      stalledInterval: Math.max(500, Math.round(stallMs / 2)),
      // A job whose workers keep dying is given up after this many stalls (then the run reports it failed).
      maxStalledCount: 3,
      name: `distillery-worker ${name}`,
    };
    const queues = [{queue: names.cpu, concurrency: jobs}, ...(gpus.length > 0 ? [{queue: names.gpu, concurrency: gpus.length}] : [])];
    for (const q of queues) {
      const worker = new Worker<ClusterJobData, ClusterResult>(q.queue, (job, token, signal) => this.#process(job, token, signal), {
        ...settings,
        concurrency: q.concurrency,
      });
      worker.on('error', (error) => this.#problem(`Redis: ${redactRedis(error.message, redis)}`));
      worker.on('stalled', (jobId) => this.#options.onEvent({type: 'job-stalled', key: keyOfJobId(jobId) ?? jobId}));
      this.#workers.push(worker);
    }
    await Promise.all(this.#workers.map((w) => w.waitUntilReady()));
    // Cancellations: the keys whose runs were all interrupted.
    const subscriber = new Redis({...connection});
    subscriber.on('error', (error) => this.#problem(`Redis: ${redactRedis(error.message, redis)}`));
    subscriber.on('message', (_channel: string, key: string) => {
      for (const w of this.#workers) w.cancelJob(jobIdOf(key), 'cancelled: no run waits for it any more');
    });
    await subscriber.subscribe(names.cancelChannel);
    this.#subscriber = subscriber;
    // Presence, so a run can say when no worker (or no GPU worker) is there to take its jobs.
    const client = new Redis({...connection});
    client.on('error', (error) => this.#problem(`Redis: ${redactRedis(error.message, redis)}`));
    this.#client = client;
    const renew = (): Promise<unknown> => {
      const presence: WorkerPresence = {name, host: hostname(), cpuSlots: jobs, gpus: gpus.length, until: Date.now() + PRESENCE_TTL_MS};
      return client.hset(names.workers, name, JSON.stringify(presence)).catch(() => undefined);
    };
    await renew();
    this.#presence = setInterval(() => void renew(), PRESENCE_RENEW_MS);
    this.#options.onEvent({
      type: 'worker-ready',
      name,
      redis: redis.display,
      queues: queues.map((q) => q.queue),
      cpuSlots: jobs,
      gpus,
      remote: this.#options.remote.name,
      projectDir: this.#options.projectDir,
    });
  }

  /** Reports a connection problem once (BullMQ repeats it on every retry). */
  #problem(message: string): void {
    if (message === this.#lastProblem) return;
    this.#lastProblem = message;
    this.#options.onEvent({type: 'connection-problem', message});
  }

  /** The node-process host for a job's environment, or why this worker cannot reproduce that environment. */
  #hostFor(job: PortableJob): Result<WorkerHost, string> {
    const wanted = job.environment;
    // The job's backend is forced, so every worker computes with the backend the key names, or refuses.
    const overrides: Record<string, string> = {};
    if (wanted['backend'] !== undefined) overrides['DISTILLERY_BACKEND'] = wanted['backend'];
    if (wanted['threads'] !== undefined) overrides['DISTILLERY_TORCH_THREADS'] = wanted['threads'];
    const env = {...this.#options.env, ...overrides};
    if (Object.keys(wanted).length > 0) {
      const here = keyEnvironment(env);
      if (!here.ok) return fail(`${here.error.variable}: ${here.error.message}`);
      const same = canonicalJson(here.value);
      const asked = canonicalJson(wanted);
      if (!same.ok || !asked.ok || same.value !== asked.value) {
        return fail(
          `the job was planned for ${describeEnvironment(wanted)}, and this worker computes with ${describeEnvironment(here.value)}; ` +
            'plan on a machine set up like the workers (or set DISTILLERY_BACKEND there to match them)',
        );
      }
    }
    const id = JSON.stringify(overrides);
    let host = this.#hosts.get(id);
    if (host === undefined) {
      host = new WorkerHost({
        maxIdle: this.#options.jobs,
        env: workerEnvironment(env, this.#options.jobs),
        ...(this.#options.graceMs === undefined ? {} : {graceMs: this.#options.graceMs}),
      });
      this.#hosts.set(id, host);
    }
    return ok(host);
  }

  /**
   * A key looked up for a job: a local entry (published to the remote when the remote lacks it, so the runs waiting
   * can read it), else the remote's manifest, without downloading the entry.
   */
  async #lookup(key: string): Promise<KeyLookup> {
    const {local, remote} = this.#options;
    const here = await storeLookup(local, key);
    const there = await remote.lookup(key);
    if (there.status === 'failed') throw new Error(`remote ${remote.name} is unavailable: ${there.reason}`);
    if (here.status === 'hit') {
      if (there.status !== 'present' && here.entry !== undefined) {
        const pushed = await remote.publish(here.entry);
        if (pushed.status === 'bad' || pushed.status === 'failed') throw new Error(`could not push ${key} to remote ${remote.name}: ${pushed.reason}`);
      }
      return here;
    }
    return there.status === 'present' ? {status: 'hit', manifest: there.manifest} : here;
  }

  async #process(bull: Job<ClusterJobData, ClusterResult>, token: string | undefined, signal: AbortSignal | undefined): Promise<ClusterResult> {
    this.#active++;
    try {
      return await this.#processJob(bull, token, signal);
    } finally {
      this.#active--;
      this.#idleSince = performance.now();
    }
  }

  async #processJob(bull: Job<ClusterJobData, ClusterResult>, token: string | undefined, signal: AbortSignal | undefined): Promise<ClusterResult> {
    const {name, onEvent, remote} = this.#options;
    const data = bull.data;
    if (data?.protocol !== CLUSTER_PROTOCOL) {
      throw new UnrecoverableError(
        `refused by worker ${name}: the job speaks cluster protocol ${String(data?.protocol)} and this worker ${CLUSTER_PROTOCOL} (update distillery on one side)`,
      );
    }
    const job = data.job;
    const refuse = (reason: string): UnrecoverableError => {
      onEvent({type: 'job-refused', id: job.id, key: job.key, reason});
      return new UnrecoverableError(`refused by worker ${name}: ${reason}`);
    };
    onEvent({type: 'job-taken', id: job.id, key: job.key, nodeType: job.type, run: data.queuedBy.run, from: data.queuedBy.host});
    const module = resolveModule(job, this.#options.projectDir, true);
    if (!module.ok) throw refuse(module.error);
    const host = this.#hostFor(job);
    if (!host.ok) throw refuse(host.error);

    this.#running++;
    const started = performance.now();
    const forwarder = new EventForwarder((batch) => bull.updateProgress(batch as unknown as object), name);
    const stop = AbortSignal.any([this.#stopping.signal, ...(signal === undefined ? [] : [signal])]);
    // One store per job: it remembers what the remote lacks and whether the remote failed, only for this job.
    const store = new TieredStore(this.#options.local, remote, {readThrough: true, writeThrough: false});
    let outcome: InstanceOutcome;
    try {
      outcome = await runInstance(job, {
        store,
        lookup: (key) => this.#lookup(key),
        pool: this.#pool,
        workers: host.value,
        module: module.value,
        verifyImplementation: true,
        retries: data.retries,
        ...(data.timeoutMs === undefined ? {} : {timeoutMs: data.timeoutMs}),
        signal: stop,
        emit: forwarder.emit,
        producer: this.#producer,
        stopped: () => (stop.aborted ? 'interrupted' : undefined),
        noteOnce: (message) => forwarder.emit({type: 'notice', message: `worker ${name}: ${message}`}),
        worker: name,
      });
      if (store.remoteDown !== undefined) throw new Error(`remote ${remote.name} is unavailable: ${store.remoteDown}`);
      await this.#finish(job, outcome);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (error instanceof UnrecoverableError) throw error;
      const last = !this.#stopping.signal.aborted && bull.attemptsMade + 1 >= (bull.opts.attempts ?? 1);
      onEvent({type: last ? 'job-abandoned' : 'job-returned', id: job.id, key: job.key, reason: message});
      if (this.#stopping.signal.aborted) {
        // Back to the queue as it was, without using up one of its tries: stopping a worker is nobody's failure.
        await bull.moveToWait(token);
        throw new WaitingError();
      }
      throw error;
    } finally {
      await forwarder.flush();
      this.#running--;
    }
    const seconds = (performance.now() - started) / 1000;
    const detail = outcome.status === 'failed' ? outcome.error : outcome.status === 'skipped' ? outcome.reason : undefined;
    onEvent({type: 'job-finished', id: job.id, key: job.key, status: outcome.status, seconds, ...(detail === undefined ? {} : {detail})});
    return {protocol: CLUSTER_PROTOCOL, worker: name, outcome: portable(outcome)};
  }

  /** Publishes what ran; a job stopped here goes back to the queue (plain error) or ends (cancelled). */
  async #finish(job: PortableJob, outcome: InstanceOutcome): Promise<void> {
    const {remote, name} = this.#options;
    switch (outcome.status) {
      case 'ran': {
        if (outcome.entry === undefined) throw new Error('Internal error: a computed instance without its entry');
        // Reported done only once the runs and the other workers can read it.
        const pushed = await remote.publish(outcome.entry);
        if (pushed.status === 'bad' || pushed.status === 'failed') throw new Error(`could not push the result to remote ${remote.name}: ${pushed.reason}`);
        return;
      }
      case 'skipped':
        if (this.#stopping.signal.aborted) throw new Error(`worker ${name} is stopping`);
        throw new UnrecoverableError('cancelled: no run waits for it any more');
      case 'cached':
      case 'failed':
      case 'inputs-missing':
        return;
      default:
        return unreachable(outcome);
    }
  }

  /** Jobs running now. */
  get running(): number {
    return this.#running;
  }

  /**
   * Stops once no job has been taken or running for `ms`, counted from the start or from the end of the last job
   * (`--exit-when-idle`: a worker on a batch allocation or a rented machine that leaves when the queue has run dry).
   * Resolves when it has stopped; never, when it is stopped otherwise first. A job that arrives while it stops goes
   * back to the queue, as with any stop.
   */
  stopWhenIdle(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.#closed !== undefined) return;
        const left = this.#active > 0 ? ms : this.#idleSince + ms - performance.now();
        if (left > 0) {
          setTimeout(check, left);
          return;
        }
        this.#options.onEvent({type: 'idle', ms});
        void this.stop().then(resolve);
      };
      check();
    });
  }

  /**
   * Stops: no new jobs; running nodes are stopped and their jobs handed back to the queue for other workers.
   * Resolves once every connection and node process is closed.
   */
  stop(): Promise<void> {
    if (this.#closed !== undefined) return this.#closed;
    this.#options.onEvent({type: 'stopping', running: this.#running});
    this.#stopping.abort(new Error('worker stopping'));
    clearInterval(this.#presence);
    const names = queueNames(this.#options.queue);
    const within = <T>(promise: Promise<T>, ms: number): Promise<boolean> =>
      Promise.race([promise.then(() => true, () => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms).unref())]);
    this.#closed = (async () => {
      // Running nodes stop within the grace periods and their jobs go back to the queue; BullMQ then closes, unless
      // Redis is gone (its clients would wait for it forever): the jobs of a worker that leaves without a word are
      // taken by others after the stall timeout anyway.
      const closed = await within(Promise.all(this.#workers.map((w) => w.close())), 15_000);
      if (!closed) this.#problem('Redis did not answer while stopping; leaving without it');
      await within<unknown>(this.#client?.hdel(names.workers, this.#options.name) ?? Promise.resolve(), 2_000);
      this.#subscriber?.disconnect();
      this.#client?.disconnect();
      await Promise.all([...this.#hosts.values()].map((h) => h.close()));
      this.#options.onEvent({type: 'stopped'});
    })();
    return this.#closed;
  }
}
