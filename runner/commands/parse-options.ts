/** Argument parsing shared by the commands: node's parseArgs, with its errors turned into a message for exit code 2. */
import {parseArgs} from 'node:util';
import type {ParseArgsConfig} from 'node:util';

/** The parsed arguments, or the reason they are bad. */
export type Parsed<T extends ParseArgsConfig> = {ok: true; value: ReturnType<typeof parseArgs<T>>} | {ok: false; message: string};

/** Parses strictly (unknown options are errors). */
export function parseOptions<T extends ParseArgsConfig>(config: T): Parsed<T> {
  try {
    return {ok: true, value: parseArgs(config)};
  } catch (error) {
    return {ok: false, message: error instanceof Error ? error.message : String(error)};
  }
}

/** Parses an integer option in [min, max]; undefined when absent, a message when malformed or out of range. */
export function positiveInt(name: string, text: string | undefined, min = 1, max = Number.MAX_SAFE_INTEGER): number | undefined | {error: string} {
  if (text === undefined) return undefined;
  const n = /^\s*\d+\s*$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n < min) return {error: `--${name} must be a whole number >= ${min}, got '${text}'`};
  if (n > max) return {error: `--${name} can be at most ${max}, got '${text}'`};
  return n;
}
