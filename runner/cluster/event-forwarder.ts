/**
 * Sends a running job's events from a worker to the runs waiting for it, as BullMQ progress data: batched (a node
 * reporting progress every few milliseconds must not mean a Redis round trip each), in order, and flushed before the
 * job reports its end, so a run sees every event of a job before its outcome.
 */
import type {RunEvent} from '../events.js';
import type {EventBatch} from './cluster-protocol.js';

/** Batches and sends events. */
export class EventForwarder {
  readonly #send: (batch: EventBatch) => Promise<unknown>;
  readonly #worker: string;
  readonly #intervalMs: number;
  #buffer: RunEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #chain: Promise<void> = Promise.resolve();

  constructor(send: (batch: EventBatch) => Promise<unknown>, worker: string, intervalMs = 200) {
    this.#send = send;
    this.#worker = worker;
    this.#intervalMs = intervalMs;
  }

  /** Queues an event; an instance's progress replaces its previous progress still waiting to be sent. */
  readonly emit = (event: RunEvent): void => {
    const last = this.#buffer.at(-1);
    if (event.type === 'node-progress' && last?.type === 'node-progress' && last.id === event.id) this.#buffer[this.#buffer.length - 1] = event;
    else this.#buffer.push(event);
    if (this.#buffer.length >= 100) void this.flush();
    else this.#timer ??= setTimeout(() => void this.flush(), this.#intervalMs);
  };

  /** Sends what is queued; resolves when everything queued so far has been sent (or could not be: Redis is down). */
  flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const events = this.#buffer;
    this.#buffer = [];
    if (events.length > 0) {
      // Events are shown, not kept: one that cannot be sent (Redis restarting) is dropped rather than holding the job.
      this.#chain = this.#chain.then(() => this.#send({worker: this.#worker, events}).then(() => undefined, () => undefined));
    }
    return this.#chain;
  }
}
