/** Counts finished instances of a run, so lines can say how far it is: `[12/40] done  eval{T=1}`. */
import type {RunEvent} from '../events.js';

/** Instances finished (cached, ran, failed for good, skipped) out of the plan's total. */
export class RunTally {
  #total = 0;
  #finished = 0;

  /** Takes `event` into account; the `[n/m] ` prefix for a line about a finished instance, else ''. */
  observe(event: RunEvent): string {
    switch (event.type) {
      case 'run-started':
        this.#total = event.plan.nodes;
        this.#finished = 0;
        return '';
      case 'node-cached':
      case 'node-succeeded':
      case 'node-skipped':
        this.#finished++;
        return `[${this.#finished}/${this.#total}] `;
      case 'node-failed':
        if (event.willRetry) return '';
        this.#finished++;
        return `[${this.#finished}/${this.#total}] `;
      default:
        return '';
    }
  }
}
