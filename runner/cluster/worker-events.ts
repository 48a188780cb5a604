/**
 * What a cluster worker (`distillery worker`) reports about itself, and the line each event prints as: the worker's
 * own log, for a terminal or the system journal. What its nodes report goes to the runs waiting for them instead.
 */
import type {InstanceOutcome} from '../instance-lifecycle.js';
import {formatDuration} from '../duration.js';
import {unreachable} from '../unreachable.js';

/** Every worker event; discriminated by `type`. */
export type WorkerEvent =
  | {
      readonly type: 'worker-ready';
      readonly name: string;
      readonly redis: string;
      readonly queues: readonly string[];
      readonly cpuSlots: number;
      readonly gpus: readonly string[];
      readonly remote: string;
      readonly projectDir: string;
    }
  | {readonly type: 'job-taken'; readonly id: string; readonly key: string; readonly nodeType: string; readonly run: string; readonly from: string}
  | {readonly type: 'job-finished'; readonly id: string; readonly key: string; readonly status: InstanceOutcome['status']; readonly seconds: number; readonly detail?: string}
  /** Refused before running: its module or environment is not this worker's (the job fails; the run says why). */
  | {readonly type: 'job-refused'; readonly id: string; readonly key: string; readonly reason: string}
  /** Not finished here and handed back to the queue (the worker is stopping, or could not push the result). */
  | {readonly type: 'job-returned'; readonly id: string; readonly key: string; readonly reason: string}
  /** Not finished here, and out of tries: the job fails, and the runs waiting for it report the reason. */
  | {readonly type: 'job-abandoned'; readonly id: string; readonly key: string; readonly reason: string}
  /** A job whose worker stopped answering went back to the queue (found by this worker's stall check). */
  | {readonly type: 'job-stalled'; readonly key: string}
  | {readonly type: 'connection-problem'; readonly message: string}
  /** No job taken or running for `ms` (`--exit-when-idle`): the worker stops. */
  | {readonly type: 'idle'; readonly ms: number}
  | {readonly type: 'stopping'; readonly running: number}
  | {readonly type: 'stopped'};

/** Receives worker events. */
export type WorkerEventSink = (event: WorkerEvent) => void;

/** The log line of an event. */
export function formatWorkerEvent(event: WorkerEvent): string {
  switch (event.type) {
    case 'worker-ready':
      return (
        `worker ${event.name}: taking jobs from ${event.queues.join(' and ')} on ${event.redis} ` +
        `(${event.cpuSlots} CPU slot${event.cpuSlots === 1 ? '' : 's'}${event.gpus.length > 0 ? `, GPUs ${event.gpus.join(',')}` : ', no GPU'}); ` +
        `remote ${event.remote}; project ${event.projectDir}`
      );
    case 'job-taken':
      return `take      ${event.id} (${event.nodeType}, key ${event.key}) for run ${event.run} on ${event.from}`;
    case 'job-finished':
      return `${event.status.padEnd(9)} ${event.id} (${event.seconds.toFixed(2)}s)${event.detail === undefined ? '' : `: ${event.detail}`}`;
    case 'job-refused':
      return `REFUSED   ${event.id}: ${event.reason}`;
    case 'job-returned':
      return `returned  ${event.id} to the queue: ${event.reason}`;
    case 'job-abandoned':
      return `FAILED    ${event.id}, out of tries: ${event.reason}`;
    case 'job-stalled':
      return `note: the job of key ${event.key} lost its worker (stopped answering); it is back in the queue`;
    case 'connection-problem':
      return `warning: ${event.message}`;
    case 'idle':
      return `idle      no job for ${formatDuration(event.ms)}; leaving`;
    case 'stopping':
      return `stopping: ${event.running} running job${event.running === 1 ? '' : 's'} go${event.running === 1 ? 'es' : ''} back to the queue (Ctrl-C again to leave at once)`;
    case 'stopped':
      return 'stopped';
    default:
      return unreachable(event);
  }
}
