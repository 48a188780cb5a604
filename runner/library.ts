/**
 * The programmatic API (`import {loadPipeline, runPipeline} from 'distillery'`): the same steps as the CLI, for
 * scripts and notebooks that drive experiments from code. Expected failures are values (`Result`), as everywhere in
 * the runner: a bad pipeline gives its located diagnostics, a failed node gives a `failed` status, nothing prints.
 *
 * ```ts
 * const loaded = await loadPipeline('pipelines/quickstart.yaml', {sets: ['grid.alpha=[0.3]']});
 * if (!loaded.ok) throw new Error(renderDiagnostics(loaded.error, {color: false}));
 * const outcome = await runPipeline(loaded.value, {jobs: 2, onEvent: (e) => console.log(e.type)});
 * console.table((await pipelineResults(loaded.value)).map((r) => ({id: r.id, ...r.metrics})));
 * ```
 */
import {join, relative} from 'node:path';
import type {CacheStore} from '../cache/store.js';
import {analyzePipeline} from './analyze-pipeline.js';
import {resolveCacheDir} from './commands/cache-dir.js';
import type {Diagnostic} from './diagnostic.js';
import type {RunEvent} from './events.js';
import type {ExecuteResult} from './executor.js';
import type {Plan} from './plan.js';
import type {InstanceStatus} from './plan-status.js';
import type {PublishedReport} from './publish-reports.js';
import type {Result} from './result.js';
import type {ResultRow} from './result-rows.js';
import type {RunSummary} from './run-record.js';

export {renderDiagnostics} from './diagnostic.js';
export {foldRepeats} from './fold-repeats.js';
export type {Diagnostic} from './diagnostic.js';
export type {RunEvent, RunStatus, NodeOutcome, OutcomeCounts} from './events.js';
export type {NodeReport} from './executor.js';
export type {Plan, PlannedNode, Variant, KeyParts, CacheKey, SourceLocation} from './plan.js';
export type {InstanceStatus} from './plan-status.js';
export type {PublishedReport} from './publish-reports.js';
export type {Result} from './result.js';
export type {ResultRow} from './result-rows.js';
export type {RunSummary} from './run-record.js';

/** Where a pipeline is read from and its cache lives. */
export interface LibraryOptions {
  /** Directory relative paths, `.distillery/` and diagnostics' file names are relative to (default `process.cwd()`). */
  readonly cwd?: string;
  /** Environment (`DISTILLERY_BACKEND`, `DISTILLERY_CACHE`, ...; default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Cache location (default `$DISTILLERY_CACHE`, else `<cwd>/.distillery/cache`), as `--cache-dir`. */
  readonly cacheDir?: string;
}

/** Options of {@link loadPipeline}. */
export interface LoadOptions extends LibraryOptions {
  /** `--set KEY=VALUE` overrides, applied in order. */
  readonly sets?: readonly string[];
}

/** Options of {@link runPipeline}. */
export interface RunOptions extends LibraryOptions {
  /** CPU slots (default: the core count), as `--jobs`. */
  readonly jobs?: number;
  /** GPU ids, as `--gpus`. */
  readonly gpus?: readonly string[];
  /** After a failure, still run everything not downstream of it. */
  readonly keepGoing?: boolean;
  /** Extra attempts for a failing instance. */
  readonly retries?: number;
  /** Abort to stop the run: workers are stopped, nothing half-done is committed. */
  readonly signal?: AbortSignal;
  /** Receives every event (the CLI's loggers render these). */
  readonly onEvent?: (event: RunEvent) => void;
  /** Write a run record to `<cwd>/.distillery/runs/<run-id>/` (default true), as the CLI does. */
  readonly record?: boolean;
  /** Copy Report outputs to `<cwd>/.distillery/reports/<pipeline>/` (default true), as the CLI does. */
  readonly publishReports?: boolean;
}

/** What {@link runPipeline} resolves to. */
export interface RunOutcome extends ExecuteResult {
  /** The run record's content (also written to disk unless `record: false`). */
  readonly summary: RunSummary;
  /** The published reports (empty with `publishReports: false`). */
  readonly reports: readonly PublishedReport[];
}

function cwdOf(options: LibraryOptions): string {
  return options.cwd ?? process.cwd();
}

async function openStore(options: LibraryOptions): Promise<CacheStore> {
  const {LocalStore} = await import('../cache/local-store.js');
  return LocalStore.open(resolveCacheDir(options.cacheDir, options.env ?? process.env, cwdOf(options)));
}

/** Loads, validates and analyzes a pipeline file into a plan, or returns every problem found (located). */
export async function loadPipeline(file: string, options: LoadOptions = {}): Promise<Result<Plan, readonly Diagnostic[]>> {
  return analyzePipeline(file, {sets: options.sets ?? [], cwd: cwdOf(options), env: options.env ?? process.env});
}

/** For each instance of the plan, in order: cached, or will run (as `distillery plan`). */
export async function planPipeline(plan: Plan, options: LibraryOptions = {}): Promise<InstanceStatus[]> {
  const [{planStatus}, store] = await Promise.all([import('./plan-status.js'), openStore(options)]);
  return planStatus(
    plan,
    async (key) => {
      const found = await store.get(key, {touch: false});
      return found.status === 'hit' ? {where: 'local', manifest: found.entry.manifest} : {where: 'none'};
    },
    undefined,
  );
}

/** Runs every instance of the plan that is not cached (as `distillery run`); resolves when the run has ended. */
export async function runPipeline(plan: Plan, options: RunOptions = {}): Promise<RunOutcome> {
  const [{execute}, {RunRecorder, buildSummary, newRunId}, {describeRun}, store] = await Promise.all([
    import('./executor.js'),
    import('./run-record.js'),
    import('./run-description.js'),
    openStore(options),
  ]);
  const cwd = cwdOf(options);
  const recorder = options.record === false ? undefined : await RunRecorder.create(cwd);
  const runId = recorder?.runId ?? newRunId();
  const startedAt = new Date();
  const result = await execute(
    plan,
    store,
    {
      ...(options.jobs === undefined ? {} : {jobs: options.jobs}),
      ...(options.gpus === undefined ? {} : {gpus: options.gpus}),
      keepGoing: options.keepGoing === true,
      retries: options.retries ?? 0,
      ...(options.signal === undefined ? {} : {signal: options.signal}),
      env: options.env ?? process.env,
      runId,
    },
    (event) => {
      recorder?.record(event);
      options.onEvent?.(event);
    },
  );
  const summary = buildSummary(
    {pipeline: plan.name, file: plan.file, runId, startedAt, finishedAt: new Date(), status: result.status},
    result.nodes,
    describeRun(plan),
  );
  await recorder?.finish(summary);
  let reports: readonly PublishedReport[] = [];
  if (options.publishReports !== false) {
    const {publishReports} = await import('./publish-reports.js');
    const outcome = await publishReports(plan, store, join(cwd, '.distillery', 'reports'), {
      pipeline: plan.name,
      file: relative(cwd, plan.file),
      runId,
      date: startedAt,
      overrides: plan.overrides ?? [],
      params: plan.params ?? {},
      grid: plan.grid ?? {},
    });
    reports = outcome.published;
  }
  return {...result, summary, reports};
}

/** The plan's result rows (every terminal and baseline instance with its metrics), read from the cache. */
export async function pipelineResults(plan: Plan, options: LibraryOptions = {}): Promise<ResultRow[]> {
  const [{currentResults}, store] = await Promise.all([import('./result-rows.js'), openStore(options)]);
  return currentResults(plan, async (key) => {
    const found = await store.get(key, {touch: false});
    return found.status === 'hit' ? found.entry.manifest : undefined;
  });
}

/** The run records under `cwd` (oldest first), as `distillery runs` lists them. */
export async function recordedRuns(options: Pick<LibraryOptions, 'cwd'> = {}): Promise<readonly RunSummary[]> {
  const {readRunRecords} = await import('./run-records.js');
  return (await readRunRecords(cwdOf(options))).runs;
}
