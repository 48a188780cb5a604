/**
 * Caps on input size, so that a mistake (a grid of a million combinations, `repeat: 10000000`, a pipeline path that
 * is `/dev/zero`) is refused at once with a located message instead of hanging or exhausting memory. Each cap is far
 * above what real pipelines need (the runner's own benchmark plans 10,000 instances); the two that a real user could
 * outgrow can be raised through the environment.
 */
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {SourceText} from './source-text.js';

/** The caps that apply to one analysis. */
export interface Limits {
  /** Bytes of a pipeline file. */
  readonly pipelineBytes: number;
  /** Node instances in a plan (and grid variants). */
  readonly instances: number;
}

/** The defaults: 8 MiB of YAML, 100,000 instances. */
export const DEFAULT_LIMITS: Limits = {pipelineBytes: 8 * 1024 * 1024, instances: 100_000};

/** The environment variables that raise (or lower) each cap. */
export const LIMIT_VARIABLES: Readonly<Record<keyof Limits, string>> = {
  pipelineBytes: 'DISTILLERY_MAX_PIPELINE_BYTES',
  instances: 'DISTILLERY_MAX_INSTANCES',
};

/** `--jobs` at most: CPU slots beyond this are a typo (`--jobs 1e9`), and each slot costs memory up front. */
export const MAX_JOBS = 1024;
/** `--retries` at most. */
export const MAX_RETRIES = 100;

/** The caps in effect, from `env`; a malformed override is a diagnostic located in the environment. */
export function limitsFrom(env: NodeJS.ProcessEnv): Result<Limits, Diagnostic> {
  const limits: Record<keyof Limits, number> = {...DEFAULT_LIMITS};
  for (const [field, variable] of Object.entries(LIMIT_VARIABLES) as [keyof Limits, string][]) {
    const text = env[variable];
    if (text === undefined || text === '') continue;
    const value = Number(text);
    if (!Number.isSafeInteger(value) || value < 1) {
      const source = new SourceText('environment', `${variable}=${text}`);
      return fail(
        errorAt('bad-environment', source.location(variable.length + 1, source.text.length), `${variable} must be a whole number, 1 or more`,
          `unset it to use the default (${DEFAULT_LIMITS[field]})`),
      );
    }
    limits[field] = value;
  }
  return ok(limits);
}
