/**
 * The immutable, fully resolved plan: what `analyze` produces and what the executor consumes.
 * The executor never sees raw YAML; everything it needs to run and cache a node instance is here.
 */
import type {JsonObject, JsonValue, Resources} from '../nodes/api.js';
import type {Diagnostic} from './diagnostic.js';

/** A 16-hex-digit xxhash64 of a node instance's canonical key material. */
export type CacheKey = string & {readonly __cacheKeyBrand: never};

/** A place in a pipeline file (1-based line and column), for diagnostics and `plan --explain`. */
export interface SourceLocation {
  readonly file: string;
  readonly line: number;
  readonly col: number;
}

/** One connected input port of a planned instance. */
export interface PlannedInput {
  readonly port: string;
  /** Upstream instance ids, in a stable order (a single element unless `many`). */
  readonly from: readonly string[];
  /** The upstream output port each id is read from (same length as `from`). */
  readonly fromPort: readonly string[];
  readonly many: boolean;
}

/**
 * Everything that went into a key, kept so `plan --explain` can say what changed since the last recorded run
 * (a param, an input's key, the implementation, the environment).
 */
export interface KeyParts {
  readonly type: string;
  /** Node version plus the hash of its module's source. */
  readonly implementation: string;
  readonly params: JsonObject;
  readonly seed: number;
  /** port -> upstream keys. */
  readonly inputs: Readonly<Record<string, readonly string[]>>;
  /** Declared environment that changes results (backend kind, tfjs version). */
  readonly environment: Readonly<Record<string, string>>;
}

/** One node instance of the expanded graph. */
export interface PlannedNode {
  /** Instance id: `name`, `name[i]` for repeats, `name{a=1,b=2}` for grid variants (grid keys sorted). */
  readonly id: string;
  /** The node's name in the YAML `nodes:` map. */
  readonly name: string;
  readonly type: string;
  /** Absolute path (or `builtin:`) of the module that defines the type, so a worker process can load it. */
  readonly module: string;
  readonly params: JsonObject;
  readonly seed: number;
  /** The grid values this instance depends on (empty when shared by all variants). */
  readonly grid: Readonly<Record<string, JsonValue>>;
  readonly inputs: readonly PlannedInput[];
  /** Output port -> kind. */
  readonly outputs: Readonly<Record<string, string>>;
  readonly resources: Resources;
  /** The node's `timeout:` in milliseconds (not part of the key: it bounds the run, it does not change results). */
  readonly timeoutMs?: number;
  readonly key: CacheKey;
  readonly keyParts: KeyParts;
  readonly location: SourceLocation;
}

/** One grid variant: its values and the instances specific to it. */
export interface Variant {
  readonly grid: Readonly<Record<string, JsonValue>>;
  /** Ids of every instance this variant uses (shared ones included). */
  readonly nodes: readonly string[];
  /** Ids of this variant's terminal instances (no downstream): whose metrics `distillery results` shows. */
  readonly terminals: readonly string[];
}

/** The analyzed pipeline. */
export interface Plan {
  readonly name: string;
  /** Absolute path of the pipeline file. */
  readonly file: string;
  /** Instances by id. */
  readonly nodes: ReadonlyMap<string, PlannedNode>;
  /** Instance ids in a deterministic topological order. */
  readonly order: readonly string[];
  /** Instance id -> ids of its direct downstream instances. */
  readonly dependents: ReadonlyMap<string, readonly string[]>;
  readonly variants: readonly Variant[];
  /** The `--set` overrides it was analyzed with, in order. */
  readonly overrides?: readonly string[];
  /** The pipeline's `params:` as written (after `--set` overrides), for run records and report headers. */
  readonly params?: JsonObject;
  /** The pipeline's `grid:` (after `--set` overrides). */
  readonly grid?: Readonly<Record<string, readonly JsonValue[]>>;
  /** GPU ids named by the pipeline (`devices: {gpus: [...]}`), if any. */
  readonly gpus?: readonly string[];
  /** Problems found that do not stop planning (e.g. a grid variable no node uses); shown before any work. */
  readonly warnings?: readonly Diagnostic[];
}
