/**
 * What goes through Redis between `run --executor bullmq` and `distillery worker`: queue names, the data of a job, the
 * result a worker reports, and the events it forwards. Results themselves never go through Redis: they live in the
 * cache (the remote carries them between machines), so a Redis that restarts loses no finished work.
 *
 * Two BullMQ queues per cluster queue NAME: `NAME` for CPU jobs and `NAME-gpu` for jobs asking for a GPU, which only
 * workers started with `--gpus` take. The BullMQ job id is derived from the cache key, so a key queued or running is
 * never queued twice, whoever asks.
 */
import type {RunEvent} from '../events.js';
import type {InstanceOutcome} from '../instance-lifecycle.js';
import type {PortableJob} from '../portable-job.js';

/** Bumped when job data or results change shape: a worker refuses jobs of another protocol. */
export const CLUSTER_PROTOCOL = 1;

/** The prefix of every Redis key distillery's queues use. */
export const KEY_PREFIX = 'distillery';

/** The queue name when none is given. */
export const DEFAULT_QUEUE = 'distillery';

/** Why a queue name is unusable, or undefined. */
export function queueNameProblem(name: string): string | undefined {
  return /^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/.test(name)
    ? undefined
    : `the queue name "${name}" must be letters, digits, '_', '.' or '-' (at most 100), starting with a letter or digit`;
}

/** The Redis names of one cluster queue. */
export interface QueueNames {
  /** The BullMQ queue of CPU jobs. */
  readonly cpu: string;
  /** The BullMQ queue of GPU jobs. */
  readonly gpu: string;
  /** Where runs publish the keys whose running jobs should stop (Ctrl-C of the last run waiting for them). */
  readonly cancelChannel: string;
  /** The set of runs waiting for a key. */
  interest(key: string): string;
  /** The hash of live workers: name -> WorkerPresence (JSON). */
  readonly workers: string;
}

/** A worker's entry in the `workers` hash, renewed while it runs. */
export interface WorkerPresence {
  readonly name: string;
  readonly host: string;
  readonly cpuSlots: number;
  readonly gpus: number;
  /** Milliseconds since the epoch after which the entry is stale (the worker died without removing it). */
  readonly until: number;
}

/** How often a worker renews its presence, and how long an entry lives without renewal. */
export const PRESENCE_RENEW_MS = 10_000;
export const PRESENCE_TTL_MS = 30_000;

/** The names for queue `name`. */
export function queueNames(name: string): QueueNames {
  return {
    cpu: name,
    gpu: `${name}-gpu`,
    cancelChannel: `${KEY_PREFIX}:${name}:cancel`,
    interest: (key) => `${KEY_PREFIX}:${name}:interest:${key}`,
    workers: `${KEY_PREFIX}:${name}:workers`,
  };
}

/** The BullMQ job id of a key (BullMQ refuses ids that read as integers, which a hex key can). */
export function jobIdOf(key: string): string {
  return `key-${key}`;
}

/** The key of a BullMQ job id, or undefined for an id that is not one of ours. */
export function keyOfJobId(id: string | undefined): string | undefined {
  return id?.startsWith('key-') === true ? id.slice('key-'.length) : undefined;
}

/** The data of a queued job. */
export interface ClusterJobData {
  readonly protocol: number;
  readonly job: PortableJob;
  /** `--retries` of the run that queued it. */
  readonly retries: number;
  /** `--timeout` of that run, for a node without its own `timeout:`. */
  readonly timeoutMs?: number;
  /** Who queued it, for the worker's log. */
  readonly queuedBy: {readonly run: string; readonly host: string};
}

/** What a worker reports when it has finished a job (an outcome without local paths). */
export interface ClusterResult {
  readonly protocol: number;
  /** The worker's name (`--name`, default the host name). */
  readonly worker: string;
  readonly outcome: InstanceOutcome;
}

/** Events a worker forwards while it runs a job (BullMQ progress data), in order. */
export interface EventBatch {
  readonly worker: string;
  readonly events: readonly RunEvent[];
}

/** BullMQ options of every job: removed once finished (the result is in the cache); a few tries for lost workers. */
export const JOB_OPTIONS = {
  removeOnComplete: true,
  removeOnFail: true,
  /** Tries when a worker could not finish a job (it was stopped, or could not push): not node failures (`--retries`). */
  attempts: 3,
  backoff: {type: 'fixed', delay: 1_000},
} as const;
