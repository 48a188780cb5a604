/**
 * The one place an executor is picked by name (`--executor`, or `executor:` in distillery.config.yaml); each is
 * loaded on demand, so a local run never loads the Redis client.
 */
import type {CacheStore} from '../cache/store.js';
import type {BullmqExecutorOptions} from './cluster/bullmq-executor.js';
import type {Executor} from './instance-executor.js';
import type {LocalExecutorOptions} from './local-executor.js';
import type {Plan} from './plan.js';
import {unreachable} from './unreachable.js';

/** An executor to open, with what it needs. */
export type ExecutorChoice =
  | {readonly kind: 'local'; readonly plan: Plan; readonly store: CacheStore; readonly options: LocalExecutorOptions}
  | {readonly kind: 'bullmq'; readonly options: BullmqExecutorOptions};

/** Opens the chosen executor. The bullmq one rejects with a ClusterUnavailable when Redis cannot be reached. */
export async function openExecutor(choice: ExecutorChoice): Promise<Executor> {
  switch (choice.kind) {
    case 'local':
      return (await import('./local-executor.js')).LocalExecutor.create(choice.plan, choice.store, choice.options);
    case 'bullmq':
      return (await import('./cluster/bullmq-executor.js')).BullmqExecutor.open(choice.options);
    default:
      return unreachable(choice);
  }
}
