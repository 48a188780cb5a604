/**
 * The cache store interface. The executor and the `cache` command only see this, so a remote or shared store can
 * later stand behind it (it must pass the same conformance suite, `test/cache.test.ts`).
 */
import type {HeldLock} from './key-lock.js';
import type {Manifest, ManifestOutput, Producer, Timings} from './manifest.js';
import type {HeldLease} from './run-lease.js';

export type {HeldLock} from './key-lock.js';
export type {HeldLease} from './run-lease.js';

/** A valid entry: its folder (a local path, read-only by convention) and its manifest. */
export interface CacheEntry {
  readonly key: string;
  readonly dir: string;
  readonly manifest: Manifest;
}

/** The answer of a lookup. A corrupt entry has already been moved out of the way; its reason is for an event. */
export type CacheLookup =
  | {readonly status: 'hit'; readonly entry: CacheEntry}
  | {readonly status: 'miss'}
  | {readonly status: 'corrupt'; readonly reason: string};

/** What the producer knows about an entry besides its files, given at commit. */
export interface CommitInfo {
  readonly outputs: Readonly<Record<string, ManifestOutput>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly timings: Timings;
  readonly producer: Producer;
}

/** A private folder to write one key's artifacts into; nothing in it is visible as a hit before `commit()`. */
export interface Staging {
  readonly key: string;
  readonly dir: string;
  /**
   * Hashes the files, writes the manifest and publishes the entry atomically. If another process published the key
   * first, its entry wins and is returned (both were computed from the same key, so they are interchangeable).
   */
  commit(info: CommitInfo): Promise<CacheEntry>;
  /** Deletes the staging folder (a failed or interrupted node). */
  discard(): Promise<void>;
}

/** One line of `cache ls`. */
export interface EntrySummary {
  readonly key: string;
  readonly nodeId: string;
  readonly type: string;
  /** Bytes of the artifacts plus the manifest. */
  readonly size: number;
  readonly createdAt: string;
  /** Last hit (or the commit), for LRU. */
  readonly lastUsed: Date;
}

/** A bad entry found by `verify`. */
export interface VerifyProblem {
  readonly key: string;
  readonly reason: string;
}

/** What `verify` found. */
export interface VerifyReport {
  readonly checked: number;
  readonly problems: readonly VerifyProblem[];
}

/** What `gc` should keep. */
export interface GcOptions {
  /** Keys referenced by the pipelines to keep; when given (and no `maxBytes`), every other entry is removed. */
  readonly keep?: ReadonlySet<string>;
  /** Remove unkept entries, least recently used first, until the cache is at most this big. */
  readonly maxBytes?: number;
  /** Only report what would be removed; change nothing (no stray cleaning either). */
  readonly dryRun?: boolean;
}

/** What `gc` did. */
export interface GcReport {
  readonly removed: readonly string[];
  readonly freedBytes: number;
  readonly remainingBytes: number;
  /** Abandoned temp folders, dead locks and dead runs' leases cleaned. */
  readonly strayRemoved: number;
  /** Entries that would have been removed but were kept because a running run reads them. */
  readonly leasedKept: number;
}

/** A content-addressed store of node outputs. */
export interface CacheStore {
  /** Where it is, for messages. */
  readonly location: string;
  /** Looks a key up. A hit checks the manifest and file sizes only (never content hashes). */
  get(key: string, options?: {readonly touch?: boolean}): Promise<CacheLookup>;
  /** A fresh staging folder for `key`. */
  stage(key: string): Promise<Staging>;
  /**
   * Takes the key's lock, waiting while another process (or another task of this one) holds it; `onWait` is told
   * once who holds it ("pid 12 on gpu-box"), so the wait can be shown.
   */
  lock(key: string, signal?: AbortSignal, onWait?: (holder: string) => void): Promise<HeldLock>;
  /** Takes the key's lock if it is free. */
  tryLock(key: string): Promise<HeldLock | undefined>;
  /** Every valid-looking entry (manifests read, files not checked). */
  list(): Promise<EntrySummary[]>;
  /** Re-hashes every file of every entry; with `repair`, bad entries are removed. */
  verify(options?: {readonly repair?: boolean}): Promise<VerifyReport>;
  /** Removes one entry (atomically: it stops being a hit before its files go). */
  remove(key: string): Promise<boolean>;
  /** Garbage collection. Entries leased by running runs are never removed. */
  gc(options: GcOptions): Promise<GcReport>;
  /**
   * Registers a run that will read `keys`, so that `gc` keeps them until the lease is released. Optional: a store
   * that never collects (a read-only remote) has nothing to protect. `onWait` is called once when the lease has to
   * wait for a collection in progress.
   */
  lease?(keys: readonly string[], options?: {readonly onWait?: () => void; readonly signal?: AbortSignal}): Promise<HeldLease>;
}

/**
 * Thrown by `Staging.commit` when what a node left in its staging folder cannot become an entry (a symlink, a pipe,
 * an output port that is a folder): the node's fault, so that node fails and the run goes on.
 */
export class CommitRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommitRefused';
  }
}
