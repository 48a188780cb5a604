/** Plain lines, for logs and pipes (not a TTY). */
import type {Writable} from 'node:stream';
import type {RunEvent} from '../events.js';
import type {Logger} from './logger.js';
import {formatEvent} from './format-event.js';

/** Writes one line per event that has one. */
export class PlainLogger implements Logger {
  readonly #out: Writable;

  constructor(out: Writable) {
    this.#out = out;
  }

  log(event: RunEvent): void {
    const line = formatEvent(event);
    if (line !== undefined) this.#out.write(line + '\n');
  }

  close(): void {}
}
