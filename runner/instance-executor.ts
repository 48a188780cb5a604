/**
 * The executor seam: where the instances of a run are computed. The scheduler (`executor.ts`) decides what runs and
 * when; an executor computes one instance whose key missed the cache, from its portable job, and says how it ended.
 *
 * - `local`: worker processes on this machine over its device pool (the default; no server).
 * - `bullmq`: jobs on a Redis queue, taken by `distillery worker` processes on any number of machines, with a remote
 *   cache carrying inputs and results between them.
 *
 * `open-executor.ts` picks one by name.
 */
import type {EventSink} from './events.js';
import type {InstanceOutcome, KeyLookup} from './instance-lifecycle.js';
import type {PortableJob} from './portable-job.js';

/** The executors, by the name `--executor` takes. */
export const EXECUTOR_KINDS = ['local', 'bullmq'] as const;
export type ExecutorKind = (typeof EXECUTOR_KINDS)[number];

/** What the scheduler passes with each instance to compute. */
export interface ComputeControl {
  readonly emit: EventSink;
  /** Ctrl-C / SIGTERM of the run. */
  readonly signal?: AbortSignal;
  /** Extra attempts after a node failure (`--retries`). */
  readonly retries: number;
  /** `--timeout`, for instances whose node sets none. */
  readonly timeoutMs?: number;
  /** Why no new instance may start now (interrupted, or an earlier failure without `--keep-going`). */
  stopped(): string | undefined;
}

/** Computes instances for the scheduler. */
export interface Executor {
  readonly kind: ExecutorKind;
  /**
   * Looks a key up where this executor's jobs read their inputs (for the cluster: the local cache, then the remote's
   * manifest, without downloading the entry).
   */
  lookup(key: string): Promise<KeyLookup>;
  /** Whether the entry of `key` is still there (checked before an instance is computed from it; touches nothing). */
  has(key: string): Promise<boolean>;
  /** Computes one instance whose key missed; never rejects for a node's failure, only for the executor's own. */
  compute(job: PortableJob, control: ComputeControl): Promise<InstanceOutcome>;
  /** Worker processes started on this machine so far (tests check that a cached run starts none). */
  readonly workersStarted: number;
  /** Stops what it started (worker processes, connections) and resolves when it has. */
  close(): Promise<void>;
}
