/**
 * The cluster executor (`run --executor bullmq`): each instance to compute becomes a job on a BullMQ queue in Redis,
 * taken by a `distillery worker` on some machine, once its inputs are in the remote cache. The run shows what the
 * workers forward (the same events as a local run, with the worker's name) and ends with the same summary.
 *
 * - A key already queued or running (by this run or another) is awaited, never queued twice: the job id is derived
 *   from the key, and BullMQ ignores a second job with the same id.
 * - Results live in the cache, not in Redis: a job that vanished from the queue (Redis restarted, or another run's
 *   Ctrl-C removed it) is noticed by a periodic check and queued again, unless its result is already in the remote.
 * - Ctrl-C: the run's waiting jobs are removed and its running ones asked to stop, but only those no other run waits
 *   for (each key has a set of waiting runs in Redis).
 */
import {hostname} from 'node:os';
import {Queue, QueueEvents} from 'bullmq';
import {Redis} from 'ioredis';
import type {RemoteStore} from '../../cache/remote-store.js';
import type {CacheStore} from '../../cache/store.js';
import type {EventSink, RunEvent} from '../events.js';
import type {ComputeControl, Executor} from '../instance-executor.js';
import type {InstanceOutcome, KeyLookup} from '../instance-lifecycle.js';
import {storeLookup} from '../instance-lifecycle.js';
import type {PortableJob} from '../portable-job.js';
import type {ClusterJobData, ClusterResult, EventBatch, WorkerPresence} from './cluster-protocol.js';
import {CLUSTER_PROTOCOL, JOB_OPTIONS, KEY_PREFIX, jobIdOf, keyOfJobId, queueNames} from './cluster-protocol.js';
import type {QueueNames} from './cluster-protocol.js';
import type {RedisAddress} from './redis-address.js';
import {redactRedis} from './redis-address.js';
import {redisProblem, remoteProblem} from './redis-check.js';

/** What the executor needs. */
export interface BullmqExecutorOptions {
  readonly redis: RedisAddress;
  readonly queue: string;
  /** The run's local cache (a key there is cached for the run, even if the remote lacks it). */
  readonly local: CacheStore;
  /** The remote the workers read inputs from and push results to. */
  readonly remote: RemoteStore;
  readonly runId: string;
  /** How often jobs are checked against the queue (a lost job is queued again); default 3 s. */
  readonly pollMs?: number;
}

/** Raised by `open` when the cluster cannot be used (Redis or the remote unreachable). */
export class ClusterUnavailable extends Error {}

/** How long a waiting run keeps its interest in a key registered (renewed while it waits). */
const INTEREST_TTL_S = 24 * 3600;

/** An instance of this run waiting for a key. */
interface Listener {
  readonly id: string;
  readonly emit: EventSink;
}

/** One key this run waits for. */
interface Waiter {
  readonly key: string;
  readonly data: ClusterJobData;
  readonly queue: Queue<ClusterJobData, ClusterResult>;
  readonly listeners: Listener[];
  readonly done: Promise<InstanceOutcome>;
  settle(outcome: InstanceOutcome): void;
  settled: boolean;
  /** Consecutive checks that did not find the job in the queue. */
  missing: number;
}

/** Runs instances on a cluster of workers. */
export class BullmqExecutor implements Executor {
  readonly kind = 'bullmq';
  readonly workersStarted = 0;
  readonly #options: BullmqExecutorOptions;
  readonly #names: QueueNames;
  readonly #cpu: Queue<ClusterJobData, ClusterResult>;
  readonly #gpu: Queue<ClusterJobData, ClusterResult>;
  readonly #events: QueueEvents[];
  readonly #client: Redis;
  readonly #waiters = new Map<string, Waiter>();
  /** Keys this run registered interest in (removed at the end). */
  readonly #interests = new Set<string>();
  readonly #noticed = new Set<string>();
  /** The queues (`cpu`, `gpu`) this run said have no worker. */
  readonly #workerless = new Set<string>();
  /** The queues whose workers were checked when their first job was queued. */
  readonly #workersChecked = new Set<Queue>();
  #poll: NodeJS.Timeout | undefined;
  #aborted = false;
  #signal: AbortSignal | undefined;
  #lastProblem: string | undefined;
  /** Where notices that concern no instance go (the first instance's sink: every sink of a run is the same). */
  #emit: EventSink = () => undefined;

  private constructor(options: BullmqExecutorOptions, client: Redis, lastEventIds: readonly [string, string]) {
    this.#options = options;
    this.#names = queueNames(options.queue);
    const connection = {...options.redis.connection, maxRetriesPerRequest: null};
    this.#cpu = new Queue(this.#names.cpu, {connection, prefix: KEY_PREFIX});
    this.#gpu = new Queue(this.#names.gpu, {connection, prefix: KEY_PREFIX});
    this.#events = [this.#names.cpu, this.#names.gpu].map(
      (name, i) => new QueueEvents(name, {connection, prefix: KEY_PREFIX, lastEventId: lastEventIds[i] ?? '$'}),
    );
    this.#client = client;
    const onError = (error: Error): void => this.#problem(redactRedis(error.message, options.redis));
    for (const queue of [this.#cpu, this.#gpu]) queue.on('error', onError);
    for (const events of this.#events) events.on('error', onError);
    this.#client.on('error', onError);
    for (const events of this.#events) {
      events.on('progress', ({jobId, data}) => this.#forward(jobId, data));
      events.on('completed', ({jobId, returnvalue}) => this.#completed(jobId, returnvalue));
      events.on('failed', ({jobId, failedReason}) => void this.#failed(jobId, failedReason));
      events.on('stalled', ({jobId}) => this.#stalled(jobId));
    }
  }

  /** Connects to Redis; rejects with ClusterUnavailable when it or the remote cannot be reached. */
  static async open(options: BullmqExecutorOptions): Promise<BullmqExecutor> {
    const problem = (await redisProblem(options.redis)) ?? (await remoteProblem(options.remote));
    if (problem !== undefined) throw new ClusterUnavailable(problem);
    const names = queueNames(options.queue);
    const client = new Redis({...options.redis.connection, maxRetriesPerRequest: null});
    client.on('error', () => undefined);
    // Events are read from the newest one there now: a reader that starts reading later (its first blocking read
    // comes after its connection is ready) still sees every event of the jobs this run queues.
    const lastEventIds = await Promise.all(
      [names.cpu, names.gpu].map(async (name) => {
        const newest = await client.xrevrange(`${KEY_PREFIX}:${name}:events`, '+', '-', 'COUNT', 1).catch(() => undefined);
        // No stream yet: from its start; the stream unreadable: from whatever comes next.
        return newest === undefined ? '$' : (newest[0]?.[0] ?? '0-0');
      }),
    );
    const executor = new BullmqExecutor(options, client, [lastEventIds[0] ?? '$', lastEventIds[1] ?? '$']);
    try {
      await Promise.all([executor.#cpu.waitUntilReady(), executor.#gpu.waitUntilReady(), ...executor.#events.map((e) => e.waitUntilReady())]);
    } catch (error) {
      await executor.#closeConnections();
      throw new ClusterUnavailable(`cannot use Redis at ${options.redis.display}: ${redactRedis(error instanceof Error ? error.message : String(error), options.redis)}`);
    }
    executor.#poll = setInterval(() => void executor.#check(), options.pollMs ?? 3_000);
    return executor;
  }

  #problem(message: string): void {
    if (message === this.#lastProblem) return;
    this.#lastProblem = message;
    this.#emit({type: 'notice', message: `Redis at ${this.#options.redis.display}: ${message} (retrying)`});
  }

  #noticeOnce(message: string): void {
    if (this.#noticed.has(message)) return;
    this.#noticed.add(message);
    this.#emit({type: 'notice', message});
  }

  async lookup(key: string): Promise<KeyLookup> {
    const here = await storeLookup(this.#options.local, key);
    if (here.status === 'hit') return here;
    const there = await this.#options.remote.lookup(key);
    switch (there.status) {
      case 'present':
        return {status: 'hit', manifest: there.manifest};
      case 'failed':
        // The workers will meet the same trouble and report it on the job; the run does not stop here.
        this.#noticeOnce(`remote ${this.#options.remote.name} did not answer (${there.reason}); queueing jobs anyway`);
        return here;
      case 'absent':
      case 'bad':
        return here;
      default: {
        const never: never = there;
        throw new Error(`Internal error: unknown remote look-up ${JSON.stringify(never)}`);
      }
    }
  }

  async has(key: string): Promise<boolean> {
    if ((await this.#options.local.get(key, {touch: false})).status === 'hit') return true;
    const there = await this.#options.remote.lookup(key);
    // When the remote cannot say, the job is queued: a worker that misses an input reports it.
    return there.status === 'present' || there.status === 'failed';
  }

  compute(job: PortableJob, control: ComputeControl): Promise<InstanceOutcome> {
    this.#emit = control.emit;
    if (control.signal?.aborted === true) return Promise.resolve({status: 'skipped', reason: 'interrupted'});
    if (control.signal !== undefined && control.signal !== this.#signal) {
      this.#signal = control.signal;
      control.signal.addEventListener('abort', () => this.#abort(), {once: true});
    }
    const listener: Listener = {id: job.id, emit: control.emit};
    const existing = this.#waiters.get(job.key);
    if (existing !== undefined && !existing.settled) {
      existing.listeners.push(listener);
      return existing.done;
    }
    let settle: (outcome: InstanceOutcome) => void = () => undefined;
    const done = new Promise<InstanceOutcome>((resolve) => (settle = resolve));
    const gpu = (job.resources.gpu ?? 0) > 0;
    const waiter: Waiter = {
      key: job.key,
      data: {
        protocol: CLUSTER_PROTOCOL,
        job,
        retries: control.retries,
        ...(control.timeoutMs === undefined ? {} : {timeoutMs: control.timeoutMs}),
        queuedBy: {run: this.#options.runId, host: hostname()},
      },
      queue: gpu ? this.#gpu : this.#cpu,
      listeners: [listener],
      done,
      settled: false,
      missing: 0,
      settle: (outcome) => {
        if (waiter.settled) return;
        waiter.settled = true;
        if (this.#waiters.get(job.key) === waiter) this.#waiters.delete(job.key);
        settle(outcome);
      },
    };
    this.#waiters.set(job.key, waiter);
    void this.#submit(waiter).catch((error: unknown) => {
      const message = `could not queue the job: ${redactRedis(error instanceof Error ? error.message : String(error), this.#options.redis)}`;
      for (const l of waiter.listeners) l.emit({type: 'node-failed', id: l.id, key: job.key, error: message, attempt: 1, willRetry: false});
      waiter.settle({status: 'failed', error: message, seconds: 0});
    });
    if (!this.#workersChecked.has(waiter.queue)) {
      this.#workersChecked.add(waiter.queue);
      void this.#checkWorkers();
    }
    return done;
  }

  /** Registers this run's interest in the key and queues its job (a no-op when the key's job exists). */
  async #submit(waiter: Waiter): Promise<void> {
    const interest = this.#names.interest(waiter.key);
    await this.#client.multi().sadd(interest, this.#options.runId).expire(interest, INTEREST_TTL_S).exec();
    this.#interests.add(waiter.key);
    await waiter.queue.add(waiter.data.job.type, waiter.data, {jobId: jobIdOf(waiter.key), ...JOB_OPTIONS});
  }

  /**
   * Says when jobs wait on a queue that no live worker takes from (none started, or the GPU workers all stopped): the
   * run would otherwise wait without a word. Said again only after such workers came and went.
   */
  async #checkWorkers(): Promise<void> {
    const entries = await this.#client.hvals(this.#names.workers).catch(() => undefined);
    if (entries === undefined) return;
    const now = Date.now();
    const live = entries.flatMap((text): WorkerPresence[] => {
      try {
        const presence = JSON.parse(text) as WorkerPresence;
        return presence.until > now ? [presence] : [];
      } catch {
        return [];
      }
    });
    for (const gpu of [false, true]) {
      const queue = gpu ? this.#gpu : this.#cpu;
      const id = gpu ? 'gpu' : 'cpu';
      if (live.some((w) => (gpu ? w.gpus > 0 : w.cpuSlots > 0))) {
        this.#workerless.delete(id);
        continue;
      }
      const waiting = [...this.#waiters.values()].some((w) => !w.settled && w.queue === queue);
      if (!waiting || this.#workerless.has(id)) continue;
      this.#workerless.add(id);
      this.#emit({
        type: 'notice',
        message: gpu
          ? `no worker with GPUs takes jobs from queue ${queue.name} on ${this.#options.redis.display}: GPU instances wait until one starts (distillery worker --gpus ...)`
          : `no worker takes jobs from queue ${queue.name} on ${this.#options.redis.display}: instances wait until one starts (distillery worker)`,
      });
    }
  }

  /** Re-emits a worker's events to every instance of this run waiting for the key, under its own id. */
  #forward(jobId: string, data: unknown): void {
    const key = keyOfJobId(jobId);
    const waiter = key === undefined ? undefined : this.#waiters.get(key);
    if (waiter === undefined || data === null || typeof data !== 'object' || !Array.isArray((data as EventBatch).events)) return;
    for (const event of (data as EventBatch).events) {
      if (event.type === 'notice') {
        this.#noticeOnce(event.message);
        continue;
      }
      if (!('id' in event) || typeof event.id !== 'string') continue;
      for (const l of waiter.listeners) l.emit({...event, id: l.id} as RunEvent);
    }
  }

  #completed(jobId: string, value: unknown): void {
    const key = keyOfJobId(jobId);
    const waiter = key === undefined ? undefined : this.#waiters.get(key);
    if (waiter === undefined) return;
    const result = (typeof value === 'string' ? JSON.parse(value) : value) as ClusterResult | null;
    if (result?.protocol !== CLUSTER_PROTOCOL || typeof result.outcome !== 'object') {
      this.#fail(waiter, `a worker answered in another cluster protocol (${String(result?.protocol)}; this run speaks ${CLUSTER_PROTOCOL})`);
      return;
    }
    waiter.settle(result.outcome);
  }

  /** A job that ended failed: refused, given up after repeated stalls, or it could not be queued. */
  async #failed(jobId: string, reason: string): Promise<void> {
    const key = keyOfJobId(jobId);
    const waiter = key === undefined ? undefined : this.#waiters.get(key);
    if (waiter === undefined) return;
    // A failed try that BullMQ retries is not the end.
    const state = await waiter.queue.getJobState(jobId).catch(() => 'unknown');
    if (state === 'waiting' || state === 'delayed' || state === 'active' || state === 'prioritized') return;
    if (/^cancelled/.test(reason)) {
      // Stopped because no run waited for it: this one is interrupted too, or it came just after and queues it again.
      if (this.#aborted) waiter.settle({status: 'skipped', reason: 'interrupted'});
      else await this.#requeue(waiter, `${waiter.data.job.id} was stopped by another run's Ctrl-C; queued again`);
      return;
    }
    this.#fail(waiter, redactRedis(reason, this.#options.redis));
  }

  #fail(waiter: Waiter, message: string): void {
    for (const l of waiter.listeners) l.emit({type: 'node-failed', id: l.id, key: waiter.key, error: message, attempt: 1, willRetry: false});
    waiter.settle({status: 'failed', error: message, seconds: 0});
  }

  #stalled(jobId: string): void {
    const key = keyOfJobId(jobId);
    const waiter = key === undefined ? undefined : this.#waiters.get(key);
    if (waiter === undefined) return;
    for (const l of waiter.listeners) {
      l.emit({type: 'notice', message: `${l.id}: its worker stopped answering (killed, or its machine is gone); the job is back in the queue for another worker`});
    }
  }

  async #requeue(waiter: Waiter, message: string): Promise<void> {
    this.#emit({type: 'notice', message});
    waiter.missing = 0;
    await this.#submit(waiter).catch(() => undefined);
  }

  /**
   * The safety net under the events: a job this run waits for that is no longer in the queue finished (its result
   * is in the remote) or was lost (Redis restarted, or another run's Ctrl-C removed it) and is queued again. Two
   * checks in a row must miss it, so a job that just finished (its event still on the way) is not queued again.
   */
  async #check(): Promise<void> {
    await this.#checkWorkers();
    for (const waiter of [...this.#waiters.values()]) {
      if (waiter.settled || this.#aborted) continue;
      const state = await waiter.queue.getJobState(jobIdOf(waiter.key)).catch(() => undefined);
      if (state === undefined) return;
      if (state !== 'unknown') {
        waiter.missing = 0;
        continue;
      }
      if (++waiter.missing < 2) continue;
      const there = await this.#options.remote.lookup(waiter.key);
      if (waiter.settled) continue;
      if (there.status === 'present') {
        waiter.settle({status: 'cached', metrics: there.manifest.metrics});
        continue;
      }
      await this.#requeue(waiter, `the job of ${waiter.data.job.id} was no longer in the queue (Redis restarted, or another run removed it); queued again`);
    }
  }

  /** Ctrl-C: every instance waiting is skipped as interrupted now; the queue is cleaned up by `close`. */
  #abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    for (const waiter of [...this.#waiters.values()]) waiter.settle({status: 'skipped', reason: 'interrupted'});
  }

  /**
   * Withdraws this run's interest in its keys; after Ctrl-C, the jobs no other run waits for are removed from the
   * queue (waiting ones) or asked to stop (running ones).
   */
  async #withdraw(): Promise<void> {
    for (const key of this.#interests) {
      const interest = this.#names.interest(key);
      const [, left] = ((await this.#client.multi().srem(interest, this.#options.runId).scard(interest).exec()) ?? []) as Array<[Error | null, unknown]>;
      if (!this.#aborted || left?.[1] !== 0) continue;
      const removed = (await this.#cpu.remove(jobIdOf(key))) + (await this.#gpu.remove(jobIdOf(key)));
      if (removed === 0) await this.#client.publish(this.#names.cancelChannel, key);
    }
  }

  async #closeConnections(): Promise<void> {
    clearInterval(this.#poll);
    const closing = Promise.all([this.#cpu, this.#gpu, ...this.#events].map((c) => c.close().catch(() => undefined)));
    // BullMQ's clients wait for a Redis that went away; the run is over, so they are dropped after a while.
    const closed = await Promise.race([closing.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 5_000).unref())]);
    if (!closed) for (const c of [this.#cpu, this.#gpu, ...this.#events]) void c.disconnect().catch(() => undefined);
    this.#client.disconnect();
  }

  async close(): Promise<void> {
    clearInterval(this.#poll);
    // Bounded: a Redis that went away must not hold the end of the run (the interest sets expire by themselves).
    await Promise.race([this.#withdraw().catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000).unref())]);
    await this.#closeConnections();
  }
}
