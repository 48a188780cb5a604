/**
 * The environment worker processes start with.
 */
import {availableParallelism} from 'node:os';
import {WASM_THREADS_VARIABLE} from '../ml/backend-probe.js';

/**
 * `env` plus, unless the user set `DISTILLERY_WASM_THREADS`, the cores shared out among the CPU slots: `--jobs 1`
 * gives its one node every core, the default (one slot per core) one thread each, so parallel wasm nodes do not
 * oversubscribe the machine. The thread count does not change results (see ml/wasm-threads.ts).
 */
export function workerEnvironment(
  env: NodeJS.ProcessEnv,
  cpuSlots: number,
  cores: number = availableParallelism(),
): NodeJS.ProcessEnv {
  if (env[WASM_THREADS_VARIABLE]?.trim()) return env;
  return {...env, [WASM_THREADS_VARIABLE]: String(Math.max(1, Math.floor(cores / Math.max(1, cpuSlots))))};
}
