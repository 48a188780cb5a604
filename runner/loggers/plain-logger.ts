/** Plain lines, for logs and pipes (not a TTY). */
import type {Writable} from 'node:stream';
import type {RunEvent} from '../events.js';
import type {Logger} from './logger.js';
import {formatEvent} from './format-event.js';
import {RunTally} from './run-tally.js';
import {shortNumber} from './short-number.js';

/** How often a running instance's progress is written as a line (a log file gets no bars). */
export const PROGRESS_LINE_MS = 30_000;

/**
 * Writes one line per event that has one, prefixed with how many instances have finished (`[12/40]`), and a
 * progress line per running instance at most every PROGRESS_LINE_MS, so a long node shows it is alive.
 */
export class PlainLogger implements Logger {
  readonly #out: Writable;
  readonly #tally = new RunTally();
  readonly #lastProgress = new Map<string, number>();
  readonly #now: () => number;

  constructor(out: Writable, now: () => number = Date.now) {
    this.#out = out;
    this.#now = now;
  }

  log(event: RunEvent): void {
    const prefix = this.#tally.observe(event);
    if (event.type === 'node-started') this.#lastProgress.set(event.id, this.#now());
    if (event.type === 'node-progress') {
      const last = this.#lastProgress.get(event.id) ?? 0;
      if (this.#now() - last < PROGRESS_LINE_MS) return;
      this.#lastProgress.set(event.id, this.#now());
      const info = event.info === undefined ? '' : ' ' + Object.entries(event.info).map(([k, v]) => `${k}=${shortNumber(v)}`).join(' ');
      this.#out.write(`  ${event.id}: ${Math.round(Math.min(1, Math.max(0, event.fraction)) * 100)}%${info}\n`);
      return;
    }
    const line = formatEvent(event);
    if (line !== undefined) this.#out.write(prefix + line + '\n');
  }

  close(): void {}
}
