/**
 * The portable description of one node instance to compute: what any process on any machine needs to run it and file
 * its result under its key, with no path of the planning machine in it. Inputs are named by cache key and port (the
 * process resolves them through its own store: local cache, then remote), and a custom node module by its path
 * relative to the pipeline's folder plus the implementation hash it was planned with, so a process whose copy of the
 * module differs can refuse the job instead of filing other code's output under this key.
 *
 * The local executor and the cluster workers both run instances from this description.
 */
import {existsSync} from 'node:fs';
import {dirname, isAbsolute, relative, resolve, sep} from 'node:path';
import type {JsonObject, Resources, UpstreamInfo} from '../nodes/api.js';
import type {Plan, PlannedNode} from './plan.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/** Where a node type is defined. */
export type JobModule =
  /** A type distillery ships (`nodes/index.ts`). */
  | {readonly kind: 'builtin'}
  /**
   * A pipeline's `imports:` module: `path` relative to the pipeline's folder, and that folder relative to the project
   * folder (both with `/`), so a worker finds the module in its own checkout of the project.
   */
  | {readonly kind: 'file'; readonly pipelineDir: string; readonly path: string};

/** One upstream value: the entry of `key`, output `port`. */
export interface JobSource {
  readonly key: string;
  readonly port: string;
}

/** One input port of a job. */
export interface JobInputRef {
  readonly many: boolean;
  /** The upstream values, in the order the node sees them. */
  readonly sources: readonly JobSource[];
  /** The upstream instances behind `sources`, same order (for `ctx.upstream`). */
  readonly upstream: readonly UpstreamInfo[];
}

/** A node instance to compute. */
export interface PortableJob {
  /** The cache key its result is filed under. */
  readonly key: string;
  /** Its instance id in the plan that described it (for events and messages). */
  readonly id: string;
  readonly type: string;
  readonly module: JobModule;
  /** The type's implementation hash as planned (`KeyParts.implementation`). */
  readonly implementation: string;
  /** The declared environment in its key (backend kind, versions): a worker runs it under that or refuses it. */
  readonly environment: Readonly<Record<string, string>>;
  readonly params: JsonObject;
  readonly seed: number;
  /** The device it asks for. */
  readonly resources: Resources;
  readonly inputs: Readonly<Record<string, JobInputRef>>;
  /** Declared output ports (port -> kind): each must be written. */
  readonly outputs: Readonly<Record<string, string>>;
  /** The node's own `timeout:` in milliseconds, if it has one. */
  readonly timeoutMs?: number;
}

const BUILTIN_PREFIX = 'builtin:';

/** A path with `/` separators, whatever the platform. */
function posix(path: string): string {
  return path.split(sep).join('/');
}

/** The job of `node`, for a plan analyzed in (or under) `projectDir`. */
export function describeJob(plan: Plan, node: PlannedNode, projectDir: string): PortableJob {
  const pipelineFolder = dirname(plan.file);
  const module: JobModule = node.module.startsWith(BUILTIN_PREFIX)
    ? {kind: 'builtin'}
    : {kind: 'file', pipelineDir: posix(relative(projectDir, pipelineFolder)) || '.', path: posix(relative(pipelineFolder, node.module))};
  const inputs: Record<string, JobInputRef> = {};
  for (const input of node.inputs) {
    const sources = input.from.map((fromId, i): JobSource => {
      const up = plan.nodes.get(fromId);
      if (up === undefined) throw new Error(`Internal error: plan has no node '${fromId}'`);
      return {key: up.key, port: input.fromPort[i] ?? ''};
    });
    const upstream = input.from.map((fromId): UpstreamInfo => {
      const up = plan.nodes.get(fromId);
      return {id: fromId, type: up?.type ?? '', grid: up?.grid ?? {}};
    });
    inputs[input.port] = {many: input.many, sources, upstream};
  }
  return {
    key: node.key,
    id: node.id,
    type: node.type,
    module,
    implementation: node.keyParts.implementation,
    environment: node.keyParts.environment,
    params: node.params,
    seed: node.seed,
    resources: node.resources,
    inputs,
    outputs: node.outputs,
    ...(node.timeoutMs === undefined ? {} : {timeoutMs: node.timeoutMs}),
  };
}

/**
 * The module a process loads for `job` (an absolute path, or `builtin:<type>`), found under `projectDir`. With
 * `insideOnly` (workers), a path that leaves the project folder is refused: a worker runs only code of its own
 * checkout.
 */
export function resolveModule(job: PortableJob, projectDir: string, insideOnly = false): Result<string, string> {
  const module = job.module;
  switch (module.kind) {
    case 'builtin':
      return ok(`${BUILTIN_PREFIX}${job.type}`);
    case 'file': {
      if (isAbsolute(module.pipelineDir) || isAbsolute(module.path)) {
        return fail(`the module of node type "${job.type}" is given as an absolute path (${module.path}); jobs name modules relative to the pipeline`);
      }
      const file = resolve(projectDir, module.pipelineDir, module.path);
      const inside = relative(projectDir, file);
      if (insideOnly && (inside.startsWith('..') || isAbsolute(inside))) {
        return fail(`the module of node type "${job.type}" (${module.pipelineDir}/${module.path}) is outside this worker's project folder ${projectDir}`);
      }
      if (!existsSync(file)) {
        return fail(`the module of node type "${job.type}" is not in this worker's project folder: no ${posix(inside)} in ${projectDir}`);
      }
      return ok(file);
    }
    default: {
      const never: never = module;
      throw new Error(`Internal error: unknown job module ${JSON.stringify(never)}`);
    }
  }
}
