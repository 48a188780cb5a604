/**
 * The declared environment that goes into every key (backend kind, tfjs version, libtorch build and thread count):
 * what changes results beyond the node's code and inputs. `analyze` computes it for the planning machine; a cluster
 * worker computes it for a job's backend to check that it can reproduce what the key promises.
 */
import {
  DEFAULT_TORCH_THREADS,
  TORCH_THREADS_VARIABLE,
  WASM_THREADS_VARIABLE,
  forcedWasmThreads,
  probeBackend,
  torchThreadCount,
} from '../ml/backend-probe.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/** A variable whose value is not usable, with the message and a hint for a diagnostic. */
export interface BadVariable {
  readonly variable: string;
  readonly message: string;
  readonly hint: string;
}

/**
 * The key environment under `env`, or the variable that makes it unusable (`DISTILLERY_BACKEND`, or a thread count
 * checked here so that a bad value fails before any work, not in every worker).
 */
export function keyEnvironment(env: NodeJS.ProcessEnv): Result<Record<string, string>, BadVariable> {
  const bad = (variable: string, error: unknown, hint: string): Result<Record<string, string>, BadVariable> =>
    fail({variable, message: error instanceof Error ? error.message : String(error), hint});
  try {
    forcedWasmThreads(env);
  } catch (error: unknown) {
    return bad(WASM_THREADS_VARIABLE, error, 'unset it to use one thread per core not taken by parallel jobs');
  }
  try {
    torchThreadCount(env);
  } catch (error: unknown) {
    return bad(TORCH_THREADS_VARIABLE, error, `unset it to use ${DEFAULT_TORCH_THREADS} threads per node`);
  }
  try {
    const probe = probeBackend(env);
    const environment: Record<string, string> = {backend: probe.kind, tfjs: probe.tfjsVersion};
    if (probe.libtorch !== undefined) environment['libtorch'] = probe.libtorch;
    if (probe.threads !== undefined) environment['threads'] = String(probe.threads);
    return ok(environment);
  } catch (error: unknown) {
    return bad('DISTILLERY_BACKEND', error, 'unset it to pick the backend automatically');
  }
}
