/** One human line per event (or none), shared by the plain and progress-bar loggers. */
import type {RunEvent} from '../events.js';
import {formatByteSize} from '../../cache/byte-size.js';
import {unreachable} from '../unreachable.js';

/** A metric for people: 6 significant digits, so 2.6999999999999997 reads 2.7 (the record keeps the exact value). */
export function roundedNumber(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

function seconds(s: number): string {
  return s < 10 ? `${s.toFixed(2)}s` : `${s.toFixed(1)}s`;
}

/** The line for an event, or undefined for events shown otherwise (progress) or not at all. */
export function formatEvent(event: RunEvent): string | undefined {
  switch (event.type) {
    case 'run-started':
      return `run ${event.runId}: ${event.plan.pipeline} (${event.plan.nodes} instances, ${event.plan.variants} variants)`;
    case 'node-cached':
      return `cached    ${event.id}`;
    case 'node-started':
      return `start     ${event.id} on ${event.worker === undefined ? '' : `${event.worker} `}${event.device.kind} ${event.device.id}${event.attempt > 1 ? ` (attempt ${event.attempt})` : ''}`;
    case 'node-progress':
      return undefined;
    case 'node-log':
      return `  ${event.id}: ${event.message}`;
    case 'node-metric':
      return `  ${event.id}: ${event.name} = ${roundedNumber(event.value)}`;
    case 'node-succeeded':
      return `done      ${event.id} (${seconds(event.seconds)})`;
    case 'node-failed':
      // The stack stays in the run record.
      return `FAILED    ${event.id}: ${event.error}${event.willRetry ? ' (retrying)' : ''}`;
    case 'node-waiting':
      return `waiting   ${event.id}: its key is being computed by ${event.holder}`;
    case 'node-skipped':
      return `skipped   ${event.id} (${event.reason})`;
    case 'cache-corrupt':
      return `warning: cache entry of ${event.id} (${event.key}) was damaged and is recomputed: ${event.reason}`;
    case 'notice':
      return `note: ${event.message}`;
    case 'remote-fetched':
      return `fetched   ${event.id ?? event.key} from ${event.remote} (${formatByteSize(event.bytes)}, ${seconds(event.seconds)})`;
    case 'remote-pushed':
      return `pushed    ${event.id ?? event.key} to ${event.remote} (${formatByteSize(event.bytes)}, ${seconds(event.seconds)})`;
    case 'remote-push-failed':
      return `warning: could not push ${event.id ?? event.key} to ${event.remote}: ${event.reason}`;
    case 'remote-bad-entry':
      return `warning: the entry of ${event.id ?? event.key} on ${event.remote} is damaged and was not used (computing it here): ${event.reason}`;
    case 'remote-unavailable':
      return `warning: remote ${event.remote} is unavailable; going on without it: ${event.reason}`;
    case 'run-finished': {
      const c = event.counts;
      return `${event.status}: ${c.ran} ran, ${c.cached} cached, ${c.failed} failed, ${c.skipped} skipped in ${seconds(event.seconds)}`;
    }
    default:
      return unreachable(event);
  }
}
