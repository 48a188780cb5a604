/** A logger that renders nothing (tests, library use). */
import type {Logger} from './logger.js';

/** Drops every event. */
export class QuietLogger implements Logger {
  log(): void {}
  close(): void {}
}
