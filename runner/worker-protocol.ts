/** Messages between the runner (parent) and a worker child process over the IPC channel. */
import type {Device, JsonObject, UpstreamInfo} from '../nodes/api.js';

/** Where one upstream value lives: a JSON file to parse, or an artifact whose path is handed over. */
export interface InputSource {
  readonly format: 'json' | 'file';
  /** Absolute path inside the upstream cache entry. */
  readonly path: string;
}

/** One input port as the worker must present it. */
export interface JobInput {
  readonly many: boolean;
  readonly sources: readonly InputSource[];
  /** The upstream instances behind `sources`, same order (for `ctx.upstream`). */
  readonly upstream: readonly UpstreamInfo[];
}

/** A node instance to run. */
export interface WorkerJob {
  readonly id: string;
  readonly type: string;
  /** The module defining the type (absolute path or `builtin:<type>`), for `loadNodeType`. */
  readonly module: string;
  /**
   * The implementation hash the job was planned with (cluster workers): the worker computes its module's and refuses
   * the job when they differ, so other code's output is never filed under the job's key.
   */
  readonly implementation?: string;
  readonly params: JsonObject;
  readonly seed: number;
  readonly device: Device;
  /** The staging folder the outputs go to. */
  readonly stageDir: string;
  readonly inputs: Readonly<Record<string, JobInput>>;
  /** Declared output ports (port -> kind): each must be written. */
  readonly outputs: Readonly<Record<string, string>>;
  /** Printed on stdout and stderr when the node has ended, so the parent knows it has all of its output. */
  readonly outputMark?: string;
}

/** How an output port was written, relative to the staging folder. */
export interface WrittenOutput {
  readonly format: 'json' | 'file';
  readonly file: string;
}

/** Parent -> worker. */
export type ParentMessage = {readonly type: 'run'; readonly job: WorkerJob} | {readonly type: 'abort'};

/** Worker -> parent. */
export type WorkerMessage =
  | {readonly type: 'ready'}
  | {readonly type: 'progress'; readonly fraction: number; readonly info?: Readonly<Record<string, number | string>>}
  | {readonly type: 'log'; readonly message: string}
  | {readonly type: 'metric'; readonly name: string; readonly value: number}
  | {readonly type: 'done'; readonly outputs: Readonly<Record<string, WrittenOutput>>}
  /** `stale`: this process has an older version of the module loaded; the job must go to a fresh process. */
  | {readonly type: 'error'; readonly message: string; readonly stack?: string; readonly stale?: boolean};
