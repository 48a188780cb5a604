/**
 * The local cache with a remote behind it: the CacheStore that `run --remote` hands the executor, which never knows
 * a remote is there.
 *
 * - Read-through: a key the local cache misses is fetched from the remote (verified, committed locally) before the
 *   executor decides to compute it.
 * - Write-through: every commit is uploaded in the background (bounded concurrency), so uploads do not hold a device;
 *   `flush()` waits for them and says which failed.
 * - A remote that fails (down, too slow after the bounded retries, refusing) is reported once and not asked again by
 *   this store: the run goes on locally. Locks, listing, verify and gc are the local cache's.
 */
import pLimit from 'p-limit';
import {unreachable} from './unreachable.js';
import type {LimitFunction} from 'p-limit';
import type {Manifest} from './manifest.js';
import type {RemoteEventSink} from './remote-events.js';
import type {RemoteFailure, RemoteStore} from './remote-store.js';
import type {
  CacheEntry,
  CacheLookup,
  CacheStore,
  CommitInfo,
  EntrySummary,
  GcOptions,
  GcReport,
  HeldLease,
  HeldLock,
  Staging,
  VerifyReport,
} from './store.js';

/** How the remote is used. */
export interface TieredOptions {
  /** Fetch local misses from the remote. */
  readonly readThrough: boolean;
  /** Upload every commit to the remote. */
  readonly writeThrough: boolean;
  readonly onEvent?: RemoteEventSink;
  /** Transfers at once, each way (default 4). */
  readonly transfers?: number;
}

/** An entry that write-through could not upload. */
export interface NotPushed {
  readonly key: string;
  readonly reason: string;
}

/** What write-through did, once `flush()` returns. */
export interface WriteThroughReport {
  readonly pushed: number;
  readonly failed: readonly NotPushed[];
}

/** A local cache backed by a remote. */
export class TieredStore implements CacheStore {
  readonly local: CacheStore;
  readonly remote: RemoteStore;
  readonly #options: TieredOptions;
  readonly #fetchLimit: LimitFunction;
  readonly #pushLimit: LimitFunction;
  /** Why the remote is not used any more, once it failed. */
  #down: string | undefined;
  /** Keys the remote does not have (asked once per command). */
  readonly #absent = new Set<string>();
  readonly #pending = new Map<string, Promise<void>>();
  readonly #failed: NotPushed[] = [];
  #pushed = 0;

  constructor(local: CacheStore, remote: RemoteStore, options: TieredOptions) {
    this.local = local;
    this.remote = remote;
    this.#options = options;
    this.#fetchLimit = pLimit(options.transfers ?? 4);
    this.#pushLimit = pLimit(options.transfers ?? 4);
  }

  get location(): string {
    return this.local.location;
  }

  /** Whether commits are uploaded. */
  get writesThrough(): boolean {
    return this.#options.writeThrough;
  }

  /** Why the remote was given up on, or undefined while it works. */
  get remoteDown(): string | undefined {
    return this.#down;
  }

  #disable(failure: RemoteFailure): void {
    if (this.#down !== undefined) return;
    this.#down = failure.reason;
    this.#options.onEvent?.({type: 'remote-unavailable', remote: this.remote.name, reason: failure.reason});
  }

  async get(key: string, options?: {readonly touch?: boolean}): Promise<CacheLookup> {
    const found = await this.local.get(key, options);
    if (found.status === 'hit' || !this.#options.readThrough) return found;
    // Our own upload of this key may still be running: let it finish, so a reader of this store sees its writes.
    await this.#pending.get(key);
    if (this.#down !== undefined || this.#absent.has(key)) return found;
    const started = performance.now();
    const outcome = await this.#fetchLimit(() => this.remote.fetch(key, this.local));
    switch (outcome.status) {
      case 'fetched':
        this.#options.onEvent?.({
          type: 'remote-fetched',
          remote: this.remote.name,
          key,
          bytes: outcome.bytes,
          seconds: (performance.now() - started) / 1000,
        });
        return {status: 'hit', entry: outcome.entry};
      case 'absent':
        this.#absent.add(key);
        return found;
      case 'bad':
        this.#absent.add(key);
        this.#options.onEvent?.({type: 'remote-bad-entry', remote: this.remote.name, key, reason: outcome.reason});
        return found;
      case 'failed':
        this.#disable(outcome);
        return found;
      default:
        return unreachable(outcome);
    }
  }

  /**
   * The remote's manifest of `key` without downloading the entry (for `plan` and `results`); undefined when the
   * remote does not have a usable one or is down.
   */
  async remoteManifest(key: string): Promise<Manifest | undefined> {
    if (this.#down !== undefined || this.#absent.has(key)) return undefined;
    const found = await this.#fetchLimit(() => this.remote.lookup(key));
    switch (found.status) {
      case 'present':
        return found.manifest;
      case 'absent':
      case 'bad':
        this.#absent.add(key);
        return undefined;
      case 'failed':
        this.#disable(found);
        return undefined;
      default:
        return unreachable(found);
    }
  }

  async stage(key: string): Promise<Staging> {
    const staging = await this.local.stage(key);
    return {
      key,
      dir: staging.dir,
      commit: async (info: CommitInfo): Promise<CacheEntry> => {
        const entry = await staging.commit(info);
        if (this.#options.writeThrough) this.#schedulePush(entry);
        return entry;
      },
      discard: () => staging.discard(),
    };
  }

  #schedulePush(entry: CacheEntry): void {
    const previous = this.#pending.get(entry.key) ?? Promise.resolve();
    const task = previous.then(() =>
      this.#pushLimit(async () => {
        if (this.#down !== undefined) {
          this.#failed.push({key: entry.key, reason: `not uploaded: ${this.#down}`});
          return;
        }
        const started = performance.now();
        const outcome = await this.remote.publish(entry);
        switch (outcome.status) {
          case 'published':
            this.#pushed++;
            this.#options.onEvent?.({
              type: 'remote-pushed',
              remote: this.remote.name,
              key: entry.key,
              bytes: outcome.bytes,
              seconds: (performance.now() - started) / 1000,
            });
            return;
          case 'present':
            return;
          case 'bad':
            this.#failed.push({key: entry.key, reason: outcome.reason});
            this.#options.onEvent?.({type: 'remote-push-failed', remote: this.remote.name, key: entry.key, reason: outcome.reason});
            return;
          case 'failed':
            this.#failed.push({key: entry.key, reason: outcome.reason});
            this.#options.onEvent?.({type: 'remote-push-failed', remote: this.remote.name, key: entry.key, reason: outcome.reason});
            this.#disable(outcome);
            return;
          default:
        return unreachable(outcome);
        }
      }),
    );
    const settled = task.finally(() => {
      if (this.#pending.get(entry.key) === settled) this.#pending.delete(entry.key);
    });
    this.#pending.set(entry.key, settled);
  }

  /** Waits for every write-through upload started so far and reports them. */
  async flush(): Promise<WriteThroughReport> {
    while (this.#pending.size > 0) await Promise.all(this.#pending.values());
    return {pushed: this.#pushed, failed: [...this.#failed]};
  }

  lock(key: string, signal?: AbortSignal, onWait?: (holder: string) => void): Promise<HeldLock> {
    return this.local.lock(key, signal, onWait);
  }

  tryLock(key: string): Promise<HeldLock | undefined> {
    return this.local.tryLock(key);
  }

  list(): Promise<EntrySummary[]> {
    return this.local.list();
  }

  verify(options?: {readonly repair?: boolean}): Promise<VerifyReport> {
    return this.local.verify(options);
  }

  remove(key: string): Promise<boolean> {
    return this.local.remove(key);
  }

  gc(options: GcOptions): Promise<GcReport> {
    return this.local.gc(options);
  }

  /** The run's lease is on the local cache, the one a gc collects. */
  async lease(keys: readonly string[], options?: {readonly onWait?: () => void; readonly signal?: AbortSignal}): Promise<HeldLease> {
    if (this.local.lease === undefined) throw new Error('Internal error: the local store takes no leases');
    return this.local.lease(keys, options);
  }
}
