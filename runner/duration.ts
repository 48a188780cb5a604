/**
 * Durations as people write them in a pipeline (`timeout: 90`, `timeout: 1h30m`) or on the command line
 * (`--timeout 45m`): a number is seconds; a string is a sequence of `<number><unit>` with units ms, s, m, h, d.
 * Written by hand: the npm duration parsers accept far more (`1 year`, `in 2 days`) than a timeout should, and none
 * bounds the result to what a Node timer can wait.
 */
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/**
 * The longest duration: a Node timer holds at most 2^31 - 1 ms (24.8 days) and fires at once beyond it, which would
 * turn a very long timeout into an immediate failure.
 */
export const MAX_DURATION_MS = 24 * 86_400_000;

const UNIT_MS: Readonly<Record<string, number>> = {ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000};
const PART = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/y;

/** Milliseconds of a duration, or why it is not one. */
export function parseDuration(value: unknown): Result<number, string> {
  let ms: number;
  if (typeof value === 'number') {
    ms = value * 1_000;
  } else if (typeof value === 'string' && /^\s*\d+(?:\.\d+)?\s*$/.test(value)) {
    ms = Number(value) * 1_000;
  } else if (typeof value === 'string') {
    const text = value.replace(/\s+/g, '');
    ms = 0;
    PART.lastIndex = 0;
    let at = 0;
    while (at < text.length) {
      PART.lastIndex = at;
      const match = PART.exec(text);
      if (match === null) return fail(`cannot read ${JSON.stringify(value)} as a duration`);
      ms += Number(match[1]) * (UNIT_MS[match[2] ?? ''] ?? 0);
      at = PART.lastIndex;
    }
    if (text === '') return fail('an empty duration');
  } else {
    return fail('a duration is a number of seconds or a string like "90s", "45m" or "1h30m"');
  }
  if (!Number.isFinite(ms) || ms <= 0) return fail(`a duration must be more than 0, got ${JSON.stringify(value)}`);
  if (ms > MAX_DURATION_MS) return fail(`a duration can be at most 24 days (${JSON.stringify(value)} is longer)`);
  return ok(Math.round(ms));
}

/** `1h30m`, `45s`, `250ms`: a duration for messages. */
export function formatDuration(ms: number): string {
  if (ms < 1_000) return `${ms}ms`;
  let rest = Math.round(ms / 1_000);
  const parts: string[] = [];
  for (const [unit, size] of [['d', 86_400], ['h', 3_600], ['m', 60], ['s', 1]] as const) {
    if (rest >= size) {
      parts.push(`${Math.floor(rest / size)}${unit}`);
      rest %= size;
    }
  }
  return parts.join('');
}
