/**
 * The node API: what a node type is and what its `run()` receives.
 *
 * This file is the contract between the runner (which plans, schedules and caches node instances) and the
 * node implementations (built-in ones in `nodes/`, and user modules named in a pipeline's `imports:`).
 * It has no runtime dependencies so that user modules and worker processes can import it cheaply.
 */

/** A JSON-safe value: what params, JSON outputs and metrics are made of (so they can be hashed and stored). */
export type JsonValue = null | boolean | number | string | readonly JsonValue[] | {readonly [key: string]: JsonValue};

/** A JSON-safe object. */
export type JsonObject = {readonly [key: string]: JsonValue};

/** An input port: which kind of value it accepts, and whether it takes a list (`name[*]`) or may be left out. */
export interface InputPort {
  /** The kind of value, e.g. `Dataset`, `Trajectories`, `Model`, `SyntheticSet`, `Metrics`. Must equal the upstream output's kind. */
  readonly kind: string;
  /** The port takes a list of upstream instances (`expert[*]`); `ctx.inputs[port]` is then an array. */
  readonly many?: boolean;
  /** The port may be left unconnected; `ctx.inputs[port]` is then `undefined`. */
  readonly optional?: boolean;
  readonly description?: string;
}

/** An output port. */
export interface OutputPort {
  readonly kind: string;
  readonly description?: string;
}

/** What a node instance needs from the device pool. */
export interface Resources {
  /** GPUs (0 or 1). On a machine without GPUs such a node runs on a CPU slot, with a notice. */
  readonly gpu?: number;
  /** CPU slots (default 1). */
  readonly cpu?: number;
}

/** The device a node instance was given. */
export interface Device {
  readonly kind: 'gpu' | 'cpu';
  /** GPU id as seen by the machine (`CUDA_VISIBLE_DEVICES` is set to it in the worker), or the CPU slot index. */
  readonly id: string;
}

/**
 * The value of one connected input port as a node sees it.
 * An upstream output written with `ctx.write()` arrives as its JSON value; one written to `ctx.file()` arrives as the
 * absolute path of that file inside the (read-only) cache entry.
 */
export type InputValue = JsonValue | string;

/** One upstream instance feeding an input port. */
export interface UpstreamInfo {
  readonly id: string;
  readonly type: string;
  readonly grid: Readonly<Record<string, JsonValue>>;
}

/** What `run()` receives. */
export interface NodeContext<P = JsonObject> {
  /** The instance id, e.g. `expert[2]` or `distill{T=1,alpha=0.3}`. */
  readonly id: string;
  /** The node type name. */
  readonly type: string;
  /** Resolved params, schema defaults applied. */
  readonly params: P;
  /** Loaded upstream outputs per input port (an array for `many` ports). */
  readonly inputs: Readonly<Record<string, InputValue | readonly InputValue[] | undefined>>;
  /**
   * Which upstream instances fed each input port, in the same order as `inputs` (one element unless `many`), with the
   * grid values each belongs to: lets a gathering node (a report over `eval[*]`) label its rows without extra params.
   */
  readonly upstream?: Readonly<Record<string, readonly UpstreamInfo[]>>;
  /** Deterministic seed of this instance (distinct per `repeat` instance). */
  readonly seed: number;
  readonly device: Device;
  /** Aborted on Ctrl-C / SIGTERM or when the run is cancelled: stop early; whatever was written is discarded. */
  readonly signal: AbortSignal;
  /** Reports progress in [0, 1], with optional short info (e.g. `{iter: 120, loss: 0.41}`). */
  progress(fraction: number, info?: Readonly<Record<string, number | string>>): void;
  /** A line for the run log (rendered by the loggers; nodes never print). */
  log(message: string): void;
  /** Records a scalar metric of this instance (shown in `distillery results` and the run summary). */
  metric(name: string, value: number): void;
  /** Writes a JSON output port. */
  write(port: string, value: JsonValue): void;
  /**
   * Returns the path to write a file output port to (inside a staging folder that is committed atomically after `run()`
   * resolves). `ext` (e.g. `.safetensors`) becomes part of the file name.
   */
  file(port: string, ext?: string): string;
}

/** A node type: registered under its YAML `type:` name. */
export interface NodeDefinition<P = JsonObject> {
  readonly type: string;
  /** Bump to invalidate cached results when behaviour changes without a source change elsewhere. */
  readonly version?: string | number;
  readonly description?: string;
  /** JSON Schema (draft-07) for `with:`; `default`s are applied before keys are computed. */
  readonly params?: JsonObject;
  readonly inputs?: Readonly<Record<string, InputPort>>;
  readonly outputs: Readonly<Record<string, OutputPort>>;
  readonly resources?: Resources;
  /**
   * Extra files the node's behaviour depends on that its module does not import by a static relative path: data
   * files it reads, code it loads by an absolute path, `createRequire` or a computed `import()`. Paths or globs
   * (`./tables/*.json`, `./python/**`), relative to the module's folder; their contents go into the
   * implementation hash, so editing one recomputes this type's instances (like wireit's `files`). A pattern that
   * matches no file is an error.
   */
  readonly files?: readonly string[];
  run(ctx: NodeContext<P>): Promise<void> | void;
}

/** Identity helper that gives a node module type checking and inference of `params`. */
export function defineNode<P = JsonObject>(definition: NodeDefinition<P>): NodeDefinition<P> {
  return definition;
}
