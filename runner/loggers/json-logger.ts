/** `--json`: one JSON object per event per line, for scripts. */
import type {TextOutput} from '../text-output.js';
import type {RunEvent} from '../events.js';
import type {Logger} from './logger.js';

/** Writes each event as a JSON line (the stack of a failure included: a machine reader wants it). */
export class JsonLogger implements Logger {
  readonly #out: TextOutput;

  constructor(out: TextOutput) {
    this.#out = out;
  }

  log(event: RunEvent): void {
    this.#out.write(JSON.stringify({time: new Date().toISOString(), ...event}) + '\n');
  }

  close(): void {}
}
