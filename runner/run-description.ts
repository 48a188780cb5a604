/**
 * What a run record says about the run beyond its nodes: the overrides it was given, the pipeline's params and grid
 * after them, the machine it ran on and which instances hold its results. `distillery runs`, `results --runs` and
 * `diff` read these back, so "what did I run, with which settings, and what came out" needs no retyped flags.
 */
import {cpus, hostname, totalmem} from 'node:os';
import type {JsonObject, JsonValue} from '../nodes/api.js';
import {distilleryVersion} from './distillery-version.js';
import type {Plan} from './plan.js';
import type {ResultInstance} from './result-instances.js';
import {resultInstances} from './result-instances.js';

/** The machine a run ran on. */
export interface MachineInfo {
  readonly hostname: string;
  readonly platform: string;
  readonly arch: string;
  readonly cpus: number;
  readonly cpuModel: string;
  readonly memoryBytes: number;
  readonly node: string;
  /** The tfjs backend the keys were computed for (`wasm`, `cpu`, ...), when the plan has any instance. */
  readonly backend?: string;
}

/** The run-level fields of a run record (all optional when read: records written before them lack them). */
export interface RunDescription {
  /** The distillery version that ran. */
  readonly version: string;
  /** `--set` overrides, as given. */
  readonly overrides: readonly string[];
  /** The pipeline's `params:` after the overrides. */
  readonly params: JsonObject;
  /** The pipeline's `grid:` after the overrides. */
  readonly grid: Readonly<Record<string, readonly JsonValue[]>>;
  readonly machine: MachineInfo;
  /** The result instances (see result-instances.ts). */
  readonly results: readonly ResultInstance[];
}

/** The machine this process runs on. */
export function machineInfo(backend?: string): MachineInfo {
  const cores = cpus();
  return {
    hostname: hostname(),
    platform: process.platform,
    arch: process.arch,
    cpus: cores.length,
    cpuModel: cores[0]?.model.trim() ?? 'unknown',
    memoryBytes: totalmem(),
    node: process.version,
    ...(backend === undefined ? {} : {backend}),
  };
}

/** Describes a run of `plan` (started with the overrides it was analyzed with). */
export function describeRun(plan: Plan, overrides: readonly string[] = plan.overrides ?? []): RunDescription {
  const first = plan.nodes.values().next();
  const backend = first.done === true ? undefined : first.value.keyParts.environment['backend'];
  return {
    version: distilleryVersion(),
    overrides: [...overrides],
    params: plan.params ?? {},
    grid: plan.grid ?? {},
    machine: machineInfo(backend),
    results: resultInstances(plan),
  };
}
