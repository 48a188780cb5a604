/**
 * What execution reports, as a typed union. The executor emits these to a sink; loggers render them and the run
 * record stores them. Library code never prints, so every user-visible line starts as one of these.
 */
import type {RemoteEvent} from '../cache/remote-events.js';
import type {Device} from '../nodes/api.js';

/** The plan summary given at the start of a run. */
export interface PlanSummary {
  readonly pipeline: string;
  readonly file: string;
  readonly nodes: number;
  readonly variants: number;
}

/** How a run ended. */
export type RunStatus = 'ok' | 'failed' | 'interrupted';

/** Final status of one node instance in a run. */
export type NodeOutcome = 'cached' | 'ran' | 'failed' | 'skipped';

/** Per-outcome counts. */
export type OutcomeCounts = Readonly<Record<NodeOutcome, number>>;

/** Every event; discriminated by `type`. */
export type RunEvent =
  | {readonly type: 'run-started'; readonly runId: string; readonly plan: PlanSummary}
  | {readonly type: 'node-cached'; readonly id: string; readonly key: string}
  | {
      readonly type: 'node-started';
      readonly id: string;
      readonly key: string;
      readonly device: Device;
      readonly attempt: number;
      /** The machine's worker that runs it, when the run uses a cluster (`--executor bullmq`). */
      readonly worker?: string;
    }
  | {
      readonly type: 'node-progress';
      readonly id: string;
      readonly fraction: number;
      readonly info?: Readonly<Record<string, number | string>>;
    }
  | {readonly type: 'node-log'; readonly id: string; readonly message: string}
  | {readonly type: 'node-metric'; readonly id: string; readonly name: string; readonly value: number}
  | {readonly type: 'node-succeeded'; readonly id: string; readonly key: string; readonly seconds: number}
  | {
      readonly type: 'node-failed';
      readonly id: string;
      readonly key: string;
      readonly error: string;
      /** Stack of the thrown error: kept for the run record, never shown on a terminal. */
      readonly stack?: string;
      readonly attempt: number;
      /** True when another attempt follows. */
      readonly willRetry: boolean;
    }
  | {readonly type: 'node-skipped'; readonly id: string; readonly reason: string}
  /** The instance's key is locked by another process (or another instance of this run computing the same key). */
  | {readonly type: 'node-waiting'; readonly id: string; readonly key: string; readonly holder: string}
  | {readonly type: 'cache-corrupt'; readonly id: string; readonly key: string; readonly reason: string}
  | {readonly type: 'notice'; readonly message: string}
  /** Remote cache traffic and trouble; `id` is the instance whose key it is, when the key is in the plan. */
  | (RemoteEvent & {readonly id?: string})
  | {readonly type: 'run-finished'; readonly status: RunStatus; readonly counts: OutcomeCounts; readonly seconds: number};

/** Receives events. */
export type EventSink = (event: RunEvent) => void;
