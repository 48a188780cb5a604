/** Plain lines, for logs and pipes (not a TTY). */
import type {TextOutput} from '../text-output.js';
import type {RunEvent} from '../events.js';
import type {Logger} from './logger.js';
import {formatEvent} from './format-event.js';
import {formatStatus, RunTally} from './run-tally.js';
import type {DurationEstimator} from './run-tally.js';
import {shortNumber} from './short-number.js';

/** How often a running instance's progress, and the run's status, are written as lines (a log file gets no bars). */
export const PROGRESS_LINE_MS = 30_000;

/** Options of the plain logger. */
export interface PlainLoggerOptions {
  /** The clock (tests). */
  readonly now?: () => number;
  /** Expected durations, for the ETA in status lines. */
  readonly estimator?: DurationEstimator;
}

/**
 * Writes one line per event that has one, prefixed with how many instances have finished (`[12/40]`); while
 * instances run, a progress line per running instance and a status line for the run (`[12/40] 2 running,
 * 26 queued, ETA 4m10s`) at most every PROGRESS_LINE_MS, so a long run shows it is alive and how far it is.
 */
export class PlainLogger implements Logger {
  readonly #out: TextOutput;
  readonly #tally: RunTally;
  readonly #lastProgress = new Map<string, number>();
  readonly #now: () => number;
  /** When the last status line was written (0: none yet; the first comes PROGRESS_LINE_MS into the run). */
  #lastStatus = 0;
  /** Lines not yet written (see #write). */
  readonly #pending: string[] = [];

  constructor(out: TextOutput, options: PlainLoggerOptions = {}) {
    this.#out = out;
    this.#now = options.now ?? Date.now;
    this.#tally = new RunTally(options.estimator);
  }

  log(event: RunEvent): void {
    const now = this.#now();
    const prefix = this.#tally.observe(event, now);
    if (event.type === 'run-started') this.#lastStatus = now;
    if (event.type === 'node-started') this.#lastProgress.set(event.id, now);
    if (event.type !== 'run-finished' && now - this.#lastStatus >= PROGRESS_LINE_MS) {
      const status = this.#tally.status(now);
      if (status.running > 0) {
        this.#lastStatus = now;
        this.#write(`[${status.finished}/${status.total}] ${formatStatus(status)}\n`);
      }
    }
    if (event.type === 'node-progress') {
      const last = this.#lastProgress.get(event.id) ?? 0;
      if (now - last < PROGRESS_LINE_MS) return;
      this.#lastProgress.set(event.id, now);
      const info = event.info === undefined ? '' : ' ' + Object.entries(event.info).map(([k, v]) => `${k}=${shortNumber(v)}`).join(' ');
      this.#write(`  ${event.id}: ${Math.round(Math.min(1, Math.max(0, event.fraction)) * 100)}%${info}\n`);
      return;
    }
    const line = formatEvent(event);
    if (line !== undefined) this.#write(prefix + line + '\n');
  }

  /**
   * Lines written in one tick go out as one write: a cached run reports thousands of instances at once, and a
   * file or pipe costs a system call per write.
   */
  #write(text: string): void {
    if (this.#pending.length === 0) process.nextTick(() => this.#flush());
    this.#pending.push(text);
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending.length = 0;
    this.#out.write(text);
  }

  close(): void {
    this.#flush();
  }
}
