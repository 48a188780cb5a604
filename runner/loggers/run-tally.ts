/**
 * How far a run is, for the loggers: instances finished out of the plan's total (`[12/40] done  eval{T=1}`), how many
 * are running and queued, and an ETA from expected durations (see duration-estimates.ts).
 */
import type {RunEvent} from '../events.js';
import {formatDuration} from '../duration.js';

/** Expected durations of a plan's instances; the tally tells it what this run measured. */
export interface DurationEstimator {
  /** Every instance id of the plan. */
  ids(): Iterable<string>;
  /** Expected seconds of instance `id`, or undefined when nothing like it was recorded. */
  expected(id: string): number | undefined;
  /** Instance `id` just ran for `seconds`. */
  learn(id: string, seconds: number): void;
}

/** Where a run stands. */
export interface RunStatusLine {
  readonly finished: number;
  readonly total: number;
  readonly running: number;
  /** Neither finished nor running: waiting for inputs, a device or a lock (or about to be found in the cache). */
  readonly queued: number;
  /** Seconds until every instance is done, when every unfinished instance has an estimate. */
  readonly etaSeconds?: number;
}

/** The ETA is recomputed at most this often (it walks the whole plan). */
const ETA_REFRESH_MS = 1_000;

/** Counts instances of a run as its events arrive. */
export class RunTally {
  readonly #estimator: DurationEstimator | undefined;
  #total = 0;
  readonly #finished = new Set<string>();
  /** Running instances and when they started (ms, on the clock given to `status`). */
  readonly #running = new Map<string, number>();
  #eta: {at: number; seconds: number | undefined} | undefined;

  constructor(estimator?: DurationEstimator) {
    this.#estimator = estimator;
  }

  /**
   * Takes `event` (arriving at `now` ms) into account; the `[n/m] ` prefix for a line about a finished instance,
   * else ''.
   */
  observe(event: RunEvent, now: number = Date.now()): string {
    switch (event.type) {
      case 'run-started':
        this.#total = event.plan.nodes;
        this.#finished.clear();
        this.#running.clear();
        return '';
      case 'node-started':
        this.#running.set(event.id, now);
        this.#eta = undefined;
        return '';
      case 'node-succeeded':
        this.#estimator?.learn(event.id, event.seconds);
        return this.#finish(event.id);
      case 'node-cached':
      case 'node-skipped':
        return this.#finish(event.id);
      case 'node-failed':
        if (event.willRetry) return '';
        return this.#finish(event.id);
      default:
        return '';
    }
  }

  #finish(id: string): string {
    this.#running.delete(id);
    this.#finished.add(id);
    this.#eta = undefined;
    return `[${this.#finished.size}/${this.#total}] `;
  }

  /** Where the run stands at `now` (ms). */
  status(now: number = Date.now()): RunStatusLine {
    const finished = this.#finished.size;
    const running = this.#running.size;
    const base = {finished, total: this.#total, running, queued: Math.max(0, this.#total - finished - running)};
    if (this.#eta === undefined || now - this.#eta.at >= ETA_REFRESH_MS) this.#eta = {at: now, seconds: this.#etaSeconds(now)};
    return this.#eta.seconds === undefined ? base : {...base, etaSeconds: this.#eta.seconds};
  }

  /**
   * The expected work left (queued instances in full, running ones less the time they have run) spread over the
   * instances running now; undefined while nothing runs or some unfinished instance has no estimate.
   */
  #etaSeconds(now: number): number | undefined {
    if (this.#estimator === undefined || this.#running.size === 0) return undefined;
    let work = 0;
    for (const id of this.#estimator.ids()) {
      if (this.#finished.has(id)) continue;
      const expected = this.#estimator.expected(id);
      if (expected === undefined) return undefined;
      const started = this.#running.get(id);
      work += started === undefined ? expected : Math.max(0, expected - (now - started) / 1000);
    }
    return work / this.#running.size;
  }
}

/** `2 running, 26 queued, ETA 4m10s`: the rest of a status for people, after how many are done. */
export function formatStatus(status: RunStatusLine): string {
  const eta = status.etaSeconds === undefined ? '' : `, ETA ${formatDuration(Math.max(1, Math.round(status.etaSeconds)) * 1000)}`;
  return `${status.running} running, ${status.queued} queued${eta}`;
}
