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

/** Parses a positive integer option; undefined when absent, a message when malformed. */
export function positiveInt(name: string, text: string | undefined, min = 1): number | undefined | {error: string} {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min) return {error: `--${name} must be an integer >= ${min}, got '${text}'`};
  return n;
}
