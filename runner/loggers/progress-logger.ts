/** On a TTY: a progress bar per running instance (cli-progress multibar), other events as lines above the bars. */
import type {Writable} from 'node:stream';
import cliProgress from 'cli-progress';
import type {RunEvent} from '../events.js';
import type {Logger} from './logger.js';
import {formatEvent} from './format-event.js';

/** Progress bars for running instances. */
export class ProgressLogger implements Logger {
  readonly #bars: cliProgress.MultiBar;
  readonly #running = new Map<string, cliProgress.SingleBar>();

  constructor(out: Writable & {isTTY?: boolean}) {
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
    this.#bars.log(text + '\n');
  }

  log(event: RunEvent): void {
    switch (event.type) {
      case 'node-started':
        this.#running.get(event.id)?.stop();
        this.#running.set(event.id, this.#bars.create(1000, 0, {id: event.id, info: ''}));
        return;
      case 'node-progress': {
        const info = event.info === undefined ? '' : Object.entries(event.info).map(([k, v]) => `${k}=${v}`).join(' ');
        this.#running.get(event.id)?.update(Math.round(Math.min(1, Math.max(0, event.fraction)) * 1000), {info});
        return;
      }
      case 'node-succeeded':
      case 'node-failed':
      case 'node-skipped': {
        const bar = this.#running.get(event.id);
        if (bar !== undefined) {
          this.#bars.remove(bar);
          this.#running.delete(event.id);
        }
        break;
      }
      default:
        break;
    }
    const line = formatEvent(event);
    if (line !== undefined) this.#line(line);
  }

  close(): void {
    this.#bars.stop();
  }
}
