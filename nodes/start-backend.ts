/**
 * The first thing every tfjs-using node does: start the backend its key was planned with, and say in the node's log
 * when the wasm backend could not start its thread pool (it then runs on one thread: same numbers, slower).
 */
import {initPlannedBackend} from '../ml/backend.js';
import type {BackendInfo} from '../ml/backend.js';
import type {NodeContext} from './api.js';

/** Starts the planned backend (see `initPlannedBackend`) and logs a thread-pool fallback to `ctx`. */
export async function startBackend(
  ctx: Pick<NodeContext<unknown>, 'log'>,
  init: () => Promise<BackendInfo> = initPlannedBackend,
): Promise<BackendInfo> {
  const info = await init();
  if (info.wasmThreadsNote !== undefined) ctx.log(`wasm threads: ${info.wasmThreadsNote}`);
  return info;
}
