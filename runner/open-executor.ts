/**
 * The one place an executor is picked by name (`--executor`); each is loaded on demand.
 */
import type {CacheStore} from '../cache/store.js';
import type {Executor} from './instance-executor.js';
import type {LocalExecutorOptions} from './local-executor.js';
import type {Plan} from './plan.js';
import {unreachable} from './unreachable.js';

/** An executor to open, with what it needs. */
export type ExecutorChoice = {readonly kind: 'local'; readonly plan: Plan; readonly store: CacheStore; readonly options: LocalExecutorOptions};

/** Opens the chosen executor. */
export async function openExecutor(choice: ExecutorChoice): Promise<Executor> {
  switch (choice.kind) {
    case 'local':
      return (await import('./local-executor.js')).LocalExecutor.create(choice.plan, choice.store, choice.options);
    default:
      return unreachable(choice.kind);
  }
}
