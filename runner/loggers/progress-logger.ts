/** On a TTY: a progress bar per running instance (cli-progress multibar), other events as lines above the bars. */
import type {TextOutput} from '../text-output.js';
import cliProgress from 'cli-progress';
import type {RunEvent} from '../events.js';
import type {Logger} from './logger.js';
import {formatEvent} from './format-event.js';
import {shortNumber} from './short-number.js';
import {formatStatus, RunTally} from './run-tally.js';
import type {DurationEstimator} from './run-tally.js';

export {shortNumber} from './short-number.js';

/** Options of the progress logger. */
export interface ProgressLoggerOptions {
  /** Expected durations, for the ETA on the run's bar. */
  readonly estimator?: DurationEstimator;
}

/**
 * A bar for the whole run (`12/40 done | 2 running, 26 queued, ETA 4m10s`) above a bar per running instance.
 */
export class ProgressLogger implements Logger {
  readonly #bars: cliProgress.MultiBar;
  readonly #running = new Map<string, cliProgress.SingleBar>();
  readonly #tally: RunTally;
  #overall: cliProgress.SingleBar | undefined;

  constructor(out: TextOutput, options: ProgressLoggerOptions = {}) {
    this.#tally = new RunTally(options.estimator);
    this.#bars = new cliProgress.MultiBar(
      {
        stream: out as NodeJS.WriteStream,
        format: ' {bar} {percentage}% | {id} {info}',
        hideCursor: true,
        clearOnComplete: true,
        stopOnComplete: false,
        autopadding: true,
        barsize: 24,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  #line(text: string): void {
    // cli-progress writes logged lines over the rows the bars used and clears only the first: erase each line's rest.
    this.#bars.log(text + '\x1b[K\n');
  }

  log(event: RunEvent): void {
    const prefix = this.#tally.observe(event);
    if (event.type === 'run-started') {
      if (this.#overall !== undefined) this.#bars.remove(this.#overall);
      this.#overall = this.#bars.create(Math.max(1, event.plan.nodes), 0, {status: ''}, {format: ' {bar} {value}/{total} done | {status}'});
    }
    if (this.#overall !== undefined && event.type !== 'run-finished') {
      const status = this.#tally.status();
      this.#overall.update(status.finished, {status: formatStatus(status)});
    }
    switch (event.type) {
      case 'node-started':
        this.#running.get(event.id)?.stop();
        this.#running.set(event.id, this.#bars.create(1000, 0, {id: event.id, info: ''}));
        return;
      case 'node-progress': {
        const info = event.info === undefined ? '' : Object.entries(event.info).map(([k, v]) => `${k}=${shortNumber(v)}`).join(' ');
        this.#running.get(event.id)?.update(Math.round(Math.min(1, Math.max(0, event.fraction)) * 1000), {info});
        return;
      }
      case 'node-succeeded':
      case 'node-failed':
      case 'node-skipped': {
        // The line first: cli-progress flushes logged lines when it redraws, and remove() redraws at once.
        const line = formatEvent(event);
        if (line !== undefined) this.#line(prefix + line);
        const bar = this.#running.get(event.id);
        if (bar !== undefined) {
          this.#bars.remove(bar);
          this.#running.delete(event.id);
        }
        return;
      }
      default:
        break;
    }
    const line = formatEvent(event);
    if (line !== undefined) this.#line(prefix + line);
  }

  close(): void {
    if (this.#overall !== undefined) this.#bars.remove(this.#overall);
    // stop() does not flush lines logged since the last redraw (the run-finished line): redraw once first.
    this.#bars.update();
    this.#bars.stop();
  }
}
