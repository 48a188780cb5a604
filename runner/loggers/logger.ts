/** The logger interface: renders run events for people or machines. */
import type {RunEvent} from '../events.js';

/** Receives every event of a run; `close()` flushes and tears down (progress bars). */
export interface Logger {
  log(event: RunEvent): void;
  close(): void;
}
