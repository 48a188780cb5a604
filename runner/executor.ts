/**
 * Runs a plan: every instance whose key is not cached is handed to an executor (by default the local one: worker
 * processes bounded by the device pool; see instance-executor.ts), which computes it and commits its result to the
 * cache; events go to the sink.
 *
 * Each instance's execution is one memoised promise, started for all instances at once and awaiting its upstream
 * promises, so the schedule is simply "whatever is ready and has a device". Failure modes: by default no new instance
 * starts after one fails (running ones finish); `keepGoing` runs everything not downstream of a failure.
 */
import {setMaxListeners} from 'node:events';
import {dirname} from 'node:path';
import type {CacheStore, HeldLease} from '../cache/store.js';
import type {KeyParts, Plan, PlannedNode} from './plan.js';
import type {EventSink, NodeOutcome, OutcomeCounts, RunStatus} from './events.js';
import {describeBackend} from '../ml/backend-probe.js';
import type {DevicePool} from './device-pool.js';
import type {Executor} from './instance-executor.js';
import {openExecutor} from './open-executor.js';
import {unreachable} from './unreachable.js';
import {classifyError} from './error-kind.js';

/** Execution options. */
export interface ExecuteOptions {
  /** CPU slots (`--jobs`); default: the core count. */
  readonly jobs?: number;
  /** GPU ids (`--gpus 0,1`); default: the plan's, else `nvidia-smi -L`. */
  readonly gpus?: readonly string[];
  readonly keepGoing?: boolean;
  /** Extra attempts for a failing instance. */
  readonly retries?: number;
  /** Ctrl-C / SIGTERM. */
  readonly signal?: AbortSignal;
  /** A ready pool (tests); built from jobs/gpus otherwise. */
  readonly pool?: DevicePool;
  /** Base environment of workers. */
  readonly env?: NodeJS.ProcessEnv;
  /** Grace period when stopping workers. */
  readonly graceMs?: number;
  /** Run id for the `run-started` event. */
  readonly runId?: string;
  /** `--timeout`: the longest an instance may run, for instances without their own `timeout:`. */
  readonly timeoutMs?: number;
  /**
   * Where instances are computed; default: a local executor made from `jobs`, `gpus`, `pool`, `env` and `graceMs`
   * (which an executor given here ignores). Closed when the run ends.
   */
  readonly executor?: Executor;
  /** The folder jobs name custom modules relative to (see portable-job.ts); default: the pipeline's folder. */
  readonly projectDir?: string;
}

/** One instance's line in the run summary. */
export interface NodeReport {
  readonly id: string;
  readonly type: string;
  readonly key: string;
  readonly keyParts: KeyParts;
  readonly status: NodeOutcome;
  readonly seconds: number;
  readonly metrics: Readonly<Record<string, number>>;
  readonly error?: string;
  readonly stack?: string;
  /** Why it was skipped. */
  readonly reason?: string;
}

/**
 * A failure that is not a node's fault: the environment (a full disk, a read-only cache: exit code 2 with the
 * message) or a bug in distillery (an internal error). The first one of a run is reported here.
 */
export interface RunProblem {
  readonly kind: 'environment' | 'internal';
  readonly message: string;
}

/** What `execute` resolves to. */
export interface ExecuteResult {
  readonly status: RunStatus;
  /** Set when an instance failed for a reason outside its node (see RunProblem). */
  readonly problem?: RunProblem;
  /** In plan order. */
  readonly nodes: readonly NodeReport[];
  readonly counts: OutcomeCounts;
  /** Worker processes started (0 for a fully cached run). */
  readonly workersStarted: number;
}

interface Done {
  readonly report: NodeReport;
}

/** What `compute` returns when the node failed because an input entry disappeared from the cache meanwhile. */
const INPUTS_VANISHED = Symbol('inputs vanished');

/**
 * How often a node goes back to recompute inputs that vanished from the cache (removed by hand, or by a gc that
 * does not see this run's lease, such as one of an older version) before it fails.
 */
const MAX_INPUT_REFRESHES = 3;

/** Errors of writing a lease into a cache this process may only read: the run goes on without the lease. */
const READ_ONLY_CODES: ReadonlySet<string> = new Set(['EACCES', 'EPERM', 'EROFS']);

/** Executes `plan` against `store`. */
export async function execute(plan: Plan, store: CacheStore, options: ExecuteOptions, emit: EventSink): Promise<ExecuteResult> {
  const started = performance.now();
  const signal = options.signal;
  // Every instance waiting for a device or a lock listens to the signal: thousands are normal, not a leak.
  if (signal !== undefined) setMaxListeners(0, signal);
  const projectDir = options.projectDir ?? dirname(plan.file);
  const executor = options.executor ?? (await openExecutor({kind: 'local', plan, store, options: {...options, projectDir}}));
  const retries = Math.max(0, options.retries ?? 0);
  let failed = false;
  let problem: RunProblem | undefined;
  let noticedBackend = false;
  const memo = new Map<string, Promise<Done>>();
  /** Whether some instance was started again (see refresh). */
  let refreshed = false;
  emit({
    type: 'run-started',
    runId: options.runId ?? '',
    plan: {pipeline: plan.name, file: plan.file, nodes: plan.order.length, variants: plan.variants.length},
  });
  const runLease = await takeLease(plan, store, emit, signal);

  const stopped = (): string | undefined => {
    if (signal?.aborted === true) return 'interrupted';
    if (failed && options.keepGoing !== true) return 'not started after an earlier failure';
    return undefined;
  };

  const report = (node: PlannedNode, status: NodeOutcome, extra: Partial<NodeReport> = {}): NodeReport => ({
    id: node.id,
    type: node.type,
    key: node.key,
    keyParts: node.keyParts,
    status,
    seconds: 0,
    metrics: {},
    ...extra,
  });

  const skip = (node: PlannedNode, reason: string): Done => {
    emit({type: 'node-skipped', id: node.id, reason});
    return {report: report(node, 'skipped', {reason})};
  };

  /** The metrics of the key's entry when it is cached (where the executor looks), else undefined. */
  const lookup = async (node: PlannedNode): Promise<Readonly<Record<string, number>> | undefined> => {
    const found = await executor.lookup(node.key);
    switch (found.status) {
      case 'hit':
        return found.manifest.metrics;
      case 'miss':
        return undefined;
      case 'corrupt':
        emit({type: 'cache-corrupt', id: node.id, key: node.key, reason: found.reason});
        return undefined;
      default:
        return unreachable(found);
    }
  };

  /**
   * An instance that threw instead of finishing: the error becomes its failure (with the stack kept for the run
   * record), so one broken instance never takes the run, and its record, down with it.
   */
  const crashed = (node: PlannedNode, error: unknown): Done => {
    failed = true;
    const e = classifyError(error);
    const message = e.kind === 'environment' ? `cannot use the cache in ${store.location}: ${e.message}` : `internal error: ${e.message}`;
    problem ??= {kind: e.kind, message};
    const stack = e.stack === undefined ? {} : {stack: e.stack};
    emit({type: 'node-failed', id: node.id, key: node.key, error: message, ...stack, attempt: 1, willRetry: false});
    return {report: report(node, 'failed', {error: message, ...stack})};
  };

  const cached = (node: PlannedNode, metrics: Readonly<Record<string, number>>): Done => {
    emit({type: 'node-cached', id: node.id, key: node.key});
    return {report: report(node, 'cached', {metrics})};
  };

  /** The upstream instances whose cache entries are gone (a hit is a cheap manifest read and size check). */
  const vanished = async (upIds: readonly string[]): Promise<string[]> => {
    const gone: string[] = [];
    for (const upId of upIds) {
      const up = plan.nodes.get(upId);
      if (up !== undefined && !(await executor.has(up.key))) gone.push(upId);
    }
    return gone;
  };

  /**
   * The sink instances report to while they compute. A failure stops new starts from the moment it is reported: the
   * instance hands its device on before its outcome reaches `compute`, and an instance that was waiting for that
   * device must already find the run stopped.
   */
  const noticeFailures: EventSink = (event) => {
    if (event.type === 'node-failed' && !event.willRetry) failed = true;
    emit(event);
  };

  /** Hands the instance to the executor and turns how it ended into its report. */
  const compute = async (node: PlannedNode, upIds: readonly string[]): Promise<Done | typeof INPUTS_VANISHED> => {
    if (!noticedBackend) {
      // Said once, when something first runs (a cached run computes nothing, so its backend does not matter).
      noticedBackend = true;
      emit({type: 'notice', message: describeBackend(node.keyParts.environment, options.env ?? process.env)});
    }
    // Loaded when something is computed: a cached run describes no job.
    const {describeJob} = await import('./portable-job.js');
    const outcome = await executor.compute(describeJob(plan, node, projectDir), {
      emit: noticeFailures,
      retries,
      stopped,
      ...(signal === undefined ? {} : {signal}),
      ...(options.timeoutMs === undefined ? {} : {timeoutMs: options.timeoutMs}),
    });
    switch (outcome.status) {
      case 'cached':
        return cached(node, outcome.metrics);
      case 'ran':
        return {report: report(node, 'ran', {seconds: outcome.seconds, metrics: outcome.metrics})};
      case 'failed':
        failed = true;
        return {
          report: report(node, 'failed', {
            seconds: outcome.seconds,
            error: outcome.error,
            ...(outcome.stack === undefined ? {} : {stack: outcome.stack}),
          }),
        };
      case 'skipped':
        return skip(node, outcome.reason);
      case 'inputs-missing': {
        const missing = new Set(outcome.keys);
        const gone = upIds.filter((u) => missing.has(plan.nodes.get(u)?.key ?? ''));
        // Keys this plan does not know cannot be recomputed here: a failure, said plainly.
        if (gone.length === 0) throw new Error(`Internal error: inputs ${outcome.keys.join(', ')} of ${node.id} are not in the plan`);
        return INPUTS_VANISHED;
      }
      default:
        return unreachable(outcome);
    }
  };

  /** Runs `id` again (its entry vanished), unless another consumer already did; resolves to its new outcome. */
  const refresh = (id: string, stale: Promise<Done> | undefined): Promise<Done> => {
    refreshed = true;
    if (memo.get(id) === stale) {
      emit({type: 'notice', message: `the cache entry of ${id} vanished while this run needed it (removed by another process?): computing it again`});
      memo.set(id, run(id));
    }
    return runMemo(id);
  };

  const run = async (id: string): Promise<Done> => {
    const node = plan.nodes.get(id);
    if (node === undefined) throw new Error(`Internal error: plan has no node '${id}'`);
    const upIds = upstreamIds(node);
    try {
      for (let round = 0; ; round++) {
        const done = await attempt(node, upIds, round);
        if (done !== INPUTS_VANISHED) return done;
      }
    } catch (error) {
      return crashed(node, error);
    }
  };

  /** One try at an instance: its inputs, then the cache, then the executor. */
  const attempt = async (node: PlannedNode, upIds: readonly string[], round: number): Promise<Done | typeof INPUTS_VANISHED> => {
    // Plain arrays, and no await without inputs: a cached run goes through here for every instance at once.
    const promises = upIds.map(runMemo);
    const ups = promises.length === 0 ? [] : await Promise.all(promises);
    for (const [i, up] of ups.entries()) {
      if (up.report.status === 'failed' || up.report.status === 'skipped') {
        return skip(node, `upstream ${upIds[i]} ${up.report.status === 'failed' ? 'failed' : 'was skipped'}`);
      }
    }
    const hit = await lookup(node);
    if (hit !== undefined) return cached(node, hit);
    // Before computing (recomputing an input needs a device): every input must still be in the cache.
    const gone = await vanished(upIds);
    if (gone.length > 0) {
      if (round >= MAX_INPUT_REFRESHES) {
        failed = true;
        const message = `input${gone.length > 1 ? 's' : ''} ${gone.join(', ')} vanished from the cache ${round} times while this run needed ${gone.length > 1 ? 'them' : 'it'}; is something else deleting cache entries?`;
        emit({type: 'node-failed', id: node.id, key: node.key, error: message, attempt: 1, willRetry: false});
        return {report: report(node, 'failed', {error: message})};
      }
      await Promise.all(gone.map((upId) => refresh(upId, promises[upIds.indexOf(upId)])));
      return INPUTS_VANISHED;
    }
    const why = stopped();
    if (why !== undefined) return skip(node, why);
    return compute(node, upIds);
  };

  const runMemo = (id: string): Promise<Done> => {
    let promise = memo.get(id);
    if (promise === undefined) {
      promise = run(id);
      memo.set(id, promise);
    }
    return promise;
  };

  let results: Done[];
  try {
    results = await Promise.all(plan.order.map(runMemo));
    // An instance computed again after its entry vanished has a newer outcome than the first one awaited above
    // (awaited only then: a thousand settled promises still cost a few milliseconds).
    if (refreshed) results = await Promise.all(plan.order.map(runMemo));
  } finally {
    await executor.close();
    await runLease?.release();
  }
  const counts: Record<NodeOutcome, number> = {cached: 0, ran: 0, failed: 0, skipped: 0};
  for (const r of results) counts[r.report.status]++;
  const status: RunStatus = signal?.aborted === true ? 'interrupted' : counts.failed > 0 ? 'failed' : 'ok';
  emit({type: 'run-finished', status, counts, seconds: (performance.now() - started) / 1000});
  return {status, ...(problem === undefined ? {} : {problem}), nodes: results.map((r) => r.report), counts, workersStarted: executor.workersStarted};
}

/** The instances `node` reads from, each once, sorted. */
function upstreamIds(node: PlannedNode): readonly string[] {
  // Most instances read one upstream instance through one port: no set to build then.
  const [first, ...more] = node.inputs;
  if (first === undefined) return [];
  if (more.length === 0 && first.from.length === 1) return first.from;
  return [...new Set(node.inputs.flatMap((i) => i.from))].sort();
}

/**
 * Registers the run's keys with the store so that a concurrent `gc` keeps them. A cache this process may only read
 * cannot hold a lease: the run goes on (a cached run needs nothing more) and says what that risks.
 */
async function takeLease(plan: Plan, store: CacheStore, emit: EventSink, signal: AbortSignal | undefined): Promise<HeldLease | undefined> {
  if (store.lease === undefined) return undefined;
  const keys = plan.order.map((id) => plan.nodes.get(id)?.key ?? '');
  try {
    return await store.lease(keys, {
      onWait: () => emit({type: 'notice', message: `waiting for a cache gc in progress in ${store.location} to finish`}),
      ...(signal === undefined ? {} : {signal}),
    });
  } catch (error) {
    // Interrupted while waiting for a gc: every instance is then skipped as interrupted.
    if (signal?.aborted === true) return undefined;
    const code = (error as NodeJS.ErrnoException).code;
    if (code === undefined || !READ_ONLY_CODES.has(code)) throw error;
    emit({type: 'notice', message: `cannot register this run in the cache (${code}): a concurrent cache gc could remove entries it reads`});
    return undefined;
  }
}
