/** `distillery run FILE`: analyze, execute what is not cached, record the run. */
import {existsSync} from 'node:fs';
import {join, relative, resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions, positiveInt} from './parse-options.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {CLUSTER_HELP, CLUSTER_OPTIONS, clusterSettings} from './cluster-options.js';
import type {ClusterSettings} from './cluster-options.js';
import {renderDiagnostics} from '../diagnostic.js';
import type {Executor, ExecutorKind} from '../instance-executor.js';
import {EXECUTOR_KINDS} from '../instance-executor.js';
import {loadProjectConfig} from '../project-config.js';
import type {RunEvent} from '../events.js';
import type {Logger} from '../loggers/logger.js';
import type {DurationEstimator} from '../loggers/run-tally.js';
import type {ExecuteResult} from '../executor.js';
import type {WriteThroughReport} from '../../cache/tiered-store.js';
import type {OpenedStore} from './open-store.js';
import {unreachable} from '../unreachable.js';
import {MAX_JOBS, MAX_RETRIES} from '../limits.js';
import {useColor} from './use-color.js';
import {projectFolder} from '../project-folder.js';

const HELP = `Usage: distillery run FILE [TARGET...] [options]

Runs a pipeline: every node instance whose cache key is not in the cache is computed (in worker processes, bounded
by the GPUs / CPU slots), results are committed to the cache, and a run record is written to
.distillery/runs/<run-id>/ (summary.json, events.jsonl). The outputs of Report nodes are copied to
.distillery/reports/<pipeline>/ and their paths printed.

With TARGETs (instance ids such as 'eval{T=1,alpha=0.3}', or node names for all their instances), only the
targets and what they need run.

Options:
  --set KEY=VALUE     override a value of the pipeline (repeatable)
  --jobs N            CPU slots: instances running at once on CPU (default: the core count, at most ${MAX_JOBS})
  --gpus 0,1          GPU ids to use (default: the pipeline's devices.gpus, else nvidia-smi -L)
  --keep-going        after a failure, still run everything not downstream of it
  --retries N         extra attempts for a failing instance (default 0, at most ${MAX_RETRIES})
  --timeout DURATION  the longest an instance may run (seconds, or 90s, 45m, 1h30m) unless its node sets
                      timeout:; past it the instance fails and its worker is stopped
  --json              JSON lines of events on stdout instead of human output
  --summary FILE      also write the run summary JSON to FILE
  --push              upload every result to the remote as it is committed, and the run record at the end
                      (a remote's \`push: true\` in distillery.config.yaml does the same)
  --executor local|bullmq
                      where instances run: local worker processes (default), or a cluster of
                      \`distillery worker\` machines taking jobs from a Redis queue (docs/cluster.md), which needs
                      a remote they share (default: the config's executor:, else local)
${CLUSTER_HELP}
${STORE_HELP}

With a remote, an instance not in the local cache is fetched from the remote (checked against its manifest)
before it is computed; a remote that is down, slow or refusing is reported once and the run goes on locally.
Uploads that fail are listed at the end (\`distillery push\` retries them); they do not fail the run.

Exit codes: 0 ok, 1 a node failed, 2 bad input, 130 interrupted.
`;

/** How many skipped instances the final summary names before abbreviating. */
const SKIPPED_SHOWN = 20;

function finalSummary(result: ExecuteResult, logOf: (id: string) => string | undefined, record: string): string {
  const lines: string[] = [];
  const failed = result.nodes.filter((n) => n.status === 'failed');
  const skipped = result.nodes.filter((n) => n.status === 'skipped');
  if (failed.length > 0) {
    lines.push(`Failed (${failed.length}):`);
    for (const n of failed) {
      const log = logOf(n.id);
      lines.push(`  ${n.id}: ${n.error ?? 'unknown error'}${log === undefined ? '' : ` (log: ${log})`}`);
    }
    lines.push(`Run record (stacks included): ${record}`);
  }
  if (skipped.length > 0) {
    lines.push(`Skipped (${skipped.length}):`);
    for (const n of skipped.slice(0, SKIPPED_SHOWN)) lines.push(`  ${n.id}: ${n.reason ?? ''}`);
    if (skipped.length > SKIPPED_SHOWN) lines.push(`  ... and ${skipped.length - SKIPPED_SHOWN} more`);
  }
  return lines.length === 0 ? '' : lines.join('\n') + '\n';
}

/** Whether the opened store uploads commits. */
function writeThroughOn(opened: OpenedStore): boolean {
  return opened.tiered?.writesThrough === true;
}

/** The kind of logger a run shows its events with. */
type LoggerKind = 'json' | 'progress' | 'plain';

function loggerKind(json: boolean, io: CommandIO): LoggerKind {
  if (json) return 'json';
  // Progress bars redraw with escape codes: a terminal only, and not for NO_COLOR or TERM=dumb.
  return useColor(io.stdout, io.env) ? 'progress' : 'plain';
}

/** The module of each kind of logger: loaded early by preloadRunModules, and used by makeLogger. */
const LOGGER_MODULES = {
  json: () => import('../loggers/json-logger.js'),
  progress: () => import('../loggers/progress-logger.js'),
  plain: () => import('../loggers/plain-logger.js'),
} as const;

async function makeLogger(kind: LoggerKind, io: CommandIO, estimator: DurationEstimator): Promise<Logger> {
  switch (kind) {
    case 'json':
      return new (await LOGGER_MODULES.json()).JsonLogger(io.stdout);
    case 'progress':
      return new (await LOGGER_MODULES.progress()).ProgressLogger(io.stdout, {estimator});
    case 'plain':
      return new (await LOGGER_MODULES.plain()).PlainLogger(io.stdout, {estimator});
    default:
      return unreachable(kind);
  }
}

/**
 * Starts loading the modules that every local run needs once its plan is analyzed. An ES module's imports load
 * level by level, each level waiting for the file reads of the one above; started here, those levels overlap the
 * analysis instead of following it (about a twentieth of a cached run of 1,000 instances). Each is imported again
 * where it is used, which is where a failure to load is reported.
 */
function preloadRunModules(logger: LoggerKind): void {
  const modules = [
    import('../executor.js'),
    import('../local-executor.js'),
    import('../run-record.js'),
    import('../run-description.js'),
    import('../duration-estimates.js'),
    import('../../cache/local-store.js'),
    import('../../cache/empty-store.js'),
    LOGGER_MODULES[logger](),
  ];
  for (const loading of modules) loading.catch(() => undefined);
}

/**
 * The cluster the run uses (`--executor`, else the config's `executor:`), undefined for the local executor, or `bad`
 * after printing why the choice cannot be used.
 */
async function chooseCluster(
  values: {readonly executor?: string | undefined; readonly redis?: string | undefined; readonly queue?: string | undefined; readonly 'no-remote'?: boolean | undefined},
  io: CommandIO,
): Promise<ClusterSettings | undefined | 'bad'> {
  const config = await loadProjectConfig(io.cwd);
  // A broken config is reported by openStore with everything else it finds; here it only means "no executor set".
  const kind = (values.executor ?? (config.ok ? config.value.executor : undefined) ?? 'local') as ExecutorKind;
  switch (kind) {
    case 'local':
      return undefined;
    case 'bullmq': {
      const settings = clusterSettings(values, config.ok ? config.value : {remotes: new Map()}, io);
      if (settings.ok) return settings.value;
      io.stderr.write(renderDiagnostics([settings.error], {color: io.stderr.isTTY === true}));
      return 'bad';
    }
    default: {
      const never: never = kind;
      throw new Error(`Internal error: unknown executor ${String(never)}`);
    }
  }
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      set: {type: 'string', multiple: true},
      jobs: {type: 'string'},
      gpus: {type: 'string'},
      'keep-going': {type: 'boolean'},
      retries: {type: 'string'},
      timeout: {type: 'string'},
      json: {type: 'boolean'},
      summary: {type: 'string'},
      push: {type: 'boolean'},
      executor: {type: 'string'},
      ...CLUSTER_OPTIONS,
      ...STORE_OPTIONS,
    },
  });
  if (!parsed.ok) {
    io.stderr.write(`distillery run: ${parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const jobs = positiveInt('jobs', values.jobs, 1, MAX_JOBS);
  const retries = positiveInt('retries', values.retries, 0, MAX_RETRIES);
  // These two are loaded only for the options that need them (a cached run starts faster without).
  const timeout = values.timeout === undefined ? undefined : (await import('../duration.js')).parseDuration(values.timeout);
  const summaryPath = values.summary === undefined ? undefined : resolve(io.cwd, values.summary);
  const summaryProblem = values.summary === undefined ? undefined : await (await import('../output-file.js')).outputFileProblem(values.summary, io.cwd);
  const problems = [
    positionals.length < 1 ? 'expected a pipeline FILE' : undefined,
    typeof jobs === 'object' ? jobs.error : undefined,
    typeof retries === 'object' ? retries.error : undefined,
    timeout?.ok === false ? `--timeout: ${timeout.error}` : undefined,
    summaryProblem === undefined ? undefined : `--summary: ${summaryProblem}`,
    values.gpus !== undefined && !/^\d+(,\d+)*$/.test(values.gpus) ? `--gpus must be a list of ids like 0,1, got '${values.gpus}'` : undefined,
    values.executor !== undefined && !(EXECUTOR_KINDS as readonly string[]).includes(values.executor)
      ? `--executor must be one of ${EXECUTOR_KINDS.join(', ')}, got '${values.executor}'`
      : undefined,
  ].filter((p) => p !== undefined);
  if (problems.length > 0) {
    io.stderr.write(problems.map((p) => `distillery run: ${p}\n`).join('') + `\n${HELP}`);
    return EXIT.badInput;
  }
  const file = resolve(io.cwd, positionals[0] ?? '');
  const logging = loggerKind(values.json === true, io);
  preloadRunModules(logging);
  const cluster = await chooseCluster(values, io);
  if (cluster === 'bad') return EXIT.badInput;
  if (cluster !== undefined && (values.jobs !== undefined || values.gpus !== undefined)) {
    io.stderr.write('distillery run: --jobs and --gpus size the local pool; a cluster\'s workers are sized by `distillery worker --jobs/--gpus`\n');
    return EXIT.badInput;
  }

  const {analyzeOrReport} = await import('./analyze-or-report.js');
  const analyzed = await analyzeOrReport(file, values.set ?? [], io, 'write');
  if (analyzed === undefined) return EXIT.badInput;
  let plan = analyzed;
  const targets = positionals.slice(1);
  if (targets.length > 0) {
    const {selectTargets} = await import('../select-targets.js');
    const selected = selectTargets(analyzed, targets);
    if (!selected.ok) {
      io.stderr.write(selected.error.map((p) => `distillery run: ${p}\n`).join(''));
      return EXIT.badInput;
    }
    plan = selected.value;
  }

  const [{execute}, {RunRecorder, buildSummary, summaryText}, {describeRun}, {DurationEstimates}] = await Promise.all([
    import('../executor.js'),
    import('../run-record.js'),
    import('../run-description.js'),
    import('../duration-estimates.js'),
  ]);
  const idOfKey = new Map<string, string>();
  for (const id of [...plan.order].reverse()) idOfKey.set(plan.nodes.get(id)?.key ?? '', id);
  // Remote events start flowing once execution does; until the logger exists there are none to show.
  let emit: (event: RunEvent) => void = () => undefined;
  const opened = await openStore(values, io, {
    readThrough: true,
    push: values.push === true,
    onEvent: (event) => {
      const id = 'key' in event ? idOfKey.get(event.key) : undefined;
      emit(id === undefined ? event : {...event, id});
    },
  });
  if (opened === undefined) return EXIT.badInput;
  if (cluster !== undefined && (opened.remote === undefined || opened.local === undefined)) {
    opened.close();
    io.stderr.write(
      'distillery run: error: the bullmq executor needs a remote cache that its workers share, to carry inputs and results\n' +
        '  hint: give --remote NAME|URL, set DISTILLERY_REMOTE, or add a default remote to distillery.config.yaml\n',
    );
    return EXIT.badInput;
  }
  const store = opened.store;
  const recorder = await RunRecorder.create(io.cwd);
  let executor: Executor | undefined;
  if (cluster !== undefined && opened.remote !== undefined && opened.local !== undefined) {
    const [{openExecutor}, {ClusterUnavailable}] = await Promise.all([import('../open-executor.js'), import('../cluster/bullmq-executor.js')]);
    try {
      executor = await openExecutor({
        kind: 'bullmq',
        options: {redis: cluster.address, queue: cluster.queue, local: opened.local, remote: opened.remote, runId: recorder.runId},
      });
    } catch (error) {
      opened.close();
      if (!(error instanceof ClusterUnavailable)) throw error;
      io.stderr.write(`distillery run: error: ${error.message}\n`);
      return EXIT.badInput;
    }
  }
  const estimates = new DurationEstimates(plan);
  const logger = await makeLogger(logging, io, estimates);
  emit = (event: RunEvent) => {
    // Past durations are read when something first runs: a fully cached run does not need an ETA.
    if (event.type === 'node-started') {
      void estimates.load(async (types) => (await import('../run-history.js')).recordedDurations(io.cwd, types));
    }
    recorder.record(event);
    logger.log(event);
  };
  const controller = new AbortController();
  let interrupts = 0;
  const onSignal = (): void => {
    interrupts++;
    // A second Ctrl-C means "now": the cache is consistent at any moment, so leaving at once is safe.
    if (interrupts > 1) process.exit(EXIT.interrupted);
    controller.abort(new Error('interrupted'));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const startedAt = new Date();
  let result: ExecuteResult;
  let writeThrough: WriteThroughReport | undefined;
  try {
    result = await execute(
      plan,
      store,
      {
        ...(typeof jobs === 'number' ? {jobs} : {}),
        ...(values.gpus === undefined ? {} : {gpus: values.gpus.split(',')}),
        keepGoing: values['keep-going'] === true,
        retries: typeof retries === 'number' ? retries : 0,
        ...(timeout?.ok === true ? {timeoutMs: timeout.value} : {}),
        signal: controller.signal,
        env: io.env,
        runId: recorder.runId,
        ...(executor === undefined ? {} : {executor, projectDir: projectFolder(io.cwd)}),
      },
      (event: RunEvent) => emit(event),
    );
    // Uploads still running finish (and report) before the logger closes.
    writeThrough = await opened.tiered?.flush();
  } catch (error) {
    // Even a crash of the run itself leaves a run record saying what happened; the CLI then reports the error.
    const e = error instanceof Error ? error : new Error(String(error));
    const summary = buildSummary(
      {pipeline: plan.name, file: plan.file, runId: recorder.runId, startedAt, finishedAt: new Date(), status: 'failed'},
      [],
    );
    await recorder.finish({...summary, error: e.message, ...(e.stack === undefined ? {} : {stack: e.stack})}, summaryPath).catch(() => undefined);
    throw error;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    logger.close();
  }
  const summary = buildSummary(
    {pipeline: plan.name, file: plan.file, runId: recorder.runId, startedAt, finishedAt: new Date(), status: result.status},
    result.nodes,
    describeRun(plan),
  );
  await recorder.finish(result.problem === undefined ? summary : {...summary, error: result.problem.message}, summaryPath);
  const notPushed = [...(writeThrough?.failed ?? [])];
  if (opened.tiered !== undefined && opened.remote !== undefined && writeThrough !== undefined && opened.tiered.remoteDown === undefined && writeThroughOn(opened)) {
    // The run record travels with the results, so `plan --explain` and `results` read the same on other machines.
    await opened.remote.putRunRecord(plan.name, recorder.runId, summaryText(summary)).catch((error: unknown) => {
      notPushed.push({key: `run record ${recorder.runId}`, reason: error instanceof Error ? error.message : String(error)});
    });
  }
  opened.close();
  const {publishReports} = await import('../publish-reports.js');
  const reports = await publishReports(plan, store, join(io.cwd, '.distillery', 'reports'), {
    pipeline: plan.name,
    file: relative(io.cwd, plan.file),
    runId: recorder.runId,
    date: startedAt,
    overrides: plan.overrides ?? [],
    params: plan.params ?? {},
    grid: plan.grid ?? {},
  });
  for (const problem of reports.problems) io.stderr.write(`warning: ${problem}\n`);
  if (values.json !== true) {
    const logOf = (id: string): string | undefined => {
      const path = recorder.logPath(id);
      return existsSync(path) ? relative(io.cwd, path) : undefined;
    };
    io.stdout.write(finalSummary(result, logOf, relative(io.cwd, join(recorder.dir, 'summary.json'))));
    if (notPushed.length > 0) {
      io.stdout.write(`Not pushed to ${opened.remote?.name ?? 'the remote'} (${notPushed.length}; \`distillery push\` retries):\n`);
      for (const n of notPushed) io.stdout.write(`  ${idOfKey.get(n.key) ?? n.key}: ${n.reason}\n`);
    }
    for (const r of reports.published) for (const f of r.files) io.stdout.write(`report: ${relative(io.cwd, f)}\n`);
  }
  if (result.problem !== undefined) {
    io.stderr.write(`distillery run: ${result.problem.kind === 'environment' ? 'error' : 'internal error'}: ${result.problem.message}\n` +
      `  the run record is in ${relative(io.cwd, recorder.dir)}\n`);
    return result.problem.kind === 'environment' ? EXIT.badInput : EXIT.internal;
  }
  switch (result.status) {
    case 'ok':
      return EXIT.ok;
    case 'failed':
      return EXIT.nodeFailed;
    case 'interrupted':
      return EXIT.interrupted;
    default:
      return unreachable(result.status);
  }
}

const command: Command = {summary: 'run a pipeline, computing what is not cached', help: HELP, run};
export default command;
