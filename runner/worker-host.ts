/**
 * The parent side of worker processes: forks them, reuses idle ones for light nodes, gives each gpu node a fresh
 * worker pinned to its card, and stops them on abort (abort message, then SIGTERM, then SIGKILL).
 *
 * Workers are forked lazily, so a fully cached run starts none (and so loads no tfjs).
 */
import {createRequire} from 'node:module';
import type {ChildProcess} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {randomHex} from '../cache/random-hex.js';
import type {ParentMessage, WorkerJob, WorkerMessage, WrittenOutput} from './worker-protocol.js';
import {formatDuration} from './duration.js';

const require = createRequire(import.meta.url);

/** node:child_process, loaded when the first worker starts: a cached run starts none, and loading it costs milliseconds. */
function childProcess(): typeof import('node:child_process') {
  return require('node:child_process') as typeof import('node:child_process');
}

/** How a job ended. */
export type JobOutcome =
  | {readonly status: 'ok'; readonly outputs: Readonly<Record<string, WrittenOutput>>; readonly metrics: Record<string, number>}
  | {readonly status: 'error'; readonly message: string; readonly stack?: string}
  | {readonly status: 'aborted'};

/** Callbacks for what a running job reports. */
export interface JobListener {
  progress(fraction: number, info?: Readonly<Record<string, number | string>>): void;
  log(message: string): void;
  metric(name: string, value: number): void;
}

/** Options of the host. */
export interface WorkerHostOptions {
  /** Idle light workers kept for reuse. */
  readonly maxIdle: number;
  /** Between the abort message and SIGTERM, and between SIGTERM and SIGKILL. */
  readonly graceMs?: number;
  /** Base environment of workers (default: this process's). */
  readonly env?: NodeJS.ProcessEnv;
}

/** How to run a job. */
export interface RunJobOptions {
  /** A fresh worker that exits after this job (gpu nodes: their memory is only reliably returned at exit). */
  readonly exclusive: boolean;
  /** Set as `CUDA_VISIBLE_DEVICES` of a fresh worker. */
  readonly cudaVisibleDevices?: string;
  readonly signal?: AbortSignal;
  /** Past this, the job fails and its worker is stopped (abort message, SIGTERM, SIGKILL) and not reused. */
  readonly timeoutMs?: number;
  readonly listener: JobListener;
}

/** The worker entry next to this module: the .ts source under tsx, the compiled .js from dist/. */
function workerEntry(): {path: string; execArgv: string[]} {
  const fromSource = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(fromSource ? './worker.ts' : './worker.js', import.meta.url));
  // Explicit execArgv: inheriting ours would pass on flags such as `--test` to the child. tsx is named by its resolved
  // URL because `--import tsx` resolves from the working directory, which is the user's project, not this package.
  return {path, execArgv: fromSource ? ['--import', import.meta.resolve('tsx')] : []};
}

interface Worker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  /** Lines the node printed itself (console.log inside a node), routed to the current job's log. */
  onOutput?: (line: string) => void;
  /** The current job's end-of-output mark, and what to call when a stream has delivered everything up to it. */
  mark?: string;
  onMark?: () => void;
  /** Resolves when both output streams have ended (every byte delivered). */
  readonly drained: Promise<void>;
  exited: boolean;
}

/** Forks, pools and stops worker processes. */
export class WorkerHost {
  readonly #options: WorkerHostOptions;
  readonly #idle: Worker[] = [];
  readonly #all = new Set<Worker>();
  #closed = false;

  constructor(options: WorkerHostOptions) {
    this.#options = options;
  }

  /** Worker processes started so far (tests check that a cached run starts none). */
  started = 0;

  #spawn(cudaVisibleDevices: string | undefined): Worker {
    const {path, execArgv} = workerEntry();
    const env = {...(this.#options.env ?? process.env)};
    if (cudaVisibleDevices !== undefined) env['CUDA_VISIBLE_DEVICES'] = cudaVisibleDevices;
    const child = childProcess().fork(path, [], {execArgv, env, stdio: ['ignore', 'pipe', 'pipe', 'ipc'], serialization: 'json'});
    this.started++;
    const ended = (stream: NodeJS.ReadableStream | null): Promise<void> =>
      stream === null ? Promise.resolve() : new Promise((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
        stream.once('error', () => resolve());
      });
    const worker: Worker = {
      child,
      exited: false,
      drained: Promise.all([ended(child.stdout), ended(child.stderr)]).then(() => undefined),
      ready: new Promise((resolve, reject) => {
        const onMessage = (m: WorkerMessage): void => {
          if (m.type === 'ready') {
            child.off('message', onMessage);
            resolve();
          }
        };
        child.on('message', onMessage);
        child.once('exit', (code, signal) => reject(new Error(`worker exited during start-up (${signal ?? code})`)));
        child.once('error', reject);
      }),
    };
    worker.ready.catch(() => undefined);
    child.once('exit', () => {
      worker.exited = true;
      this.#all.delete(worker);
      const i = this.#idle.indexOf(worker);
      if (i >= 0) this.#idle.splice(i, 1);
    });
    for (const stream of [child.stdout, child.stderr]) {
      let buffer = '';
      const emitLines = (text: string, final: boolean): void => {
        buffer += text;
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          worker.onOutput?.(buffer.slice(0, nl));
          buffer = buffer.slice(nl + 1);
        }
        // A last line without a newline is still output: at the job's mark, or when the stream ends.
        if (final && buffer !== '') {
          worker.onOutput?.(buffer);
          buffer = '';
        }
      };
      stream?.setEncoding('utf8');
      stream?.on('data', (chunk: string) => {
        let rest = chunk;
        for (;;) {
          const mark = worker.mark;
          const at = mark === undefined ? -1 : (buffer + rest).indexOf(mark);
          if (mark === undefined || at < 0) break;
          // Everything the node printed before its job ended belongs to that job, whatever it ends with.
          const all = buffer + rest;
          buffer = '';
          emitLines(all.slice(0, at), true);
          rest = all.slice(at + mark.length);
          worker.onMark?.();
        }
        emitLines(rest, false);
      });
      stream?.on('end', () => emitLines('', true));
    }
    this.#all.add(worker);
    return worker;
  }

  /** Runs one job in a worker and resolves to how it ended (never rejects for node failures). */
  run(job: WorkerJob, options: RunJobOptions): Promise<JobOutcome> {
    return this.#run(job, options, false);
  }

  async #run(job: WorkerJob, options: RunJobOptions, fresh: boolean): Promise<JobOutcome> {
    if (this.#closed) throw new Error('Internal error: worker host is closed');
    const reused = options.exclusive || fresh ? undefined : this.#idle.pop();
    const worker = reused ?? this.#spawn(options.exclusive ? options.cudaVisibleDevices : undefined);
    const {child} = worker;
    const metrics: Record<string, number> = {};
    worker.onOutput = (line) => options.listener.log(line);
    // The worker prints this on stdout and stderr after the node ends: output can lag behind the IPC message that
    // says the node ended, and must not be lost or handed to the next job.
    const mark = `\u0000distillery-output-end:${randomHex(6)}\u0000`;
    worker.mark = mark;
    let aborted = false;
    let timedOut = false;
    /** The worker had loaded an older version of the job's module (see worker.ts). */
    let stale = false;
    const timers: NodeJS.Timeout[] = [];
    const onAbort = (): void => {
      aborted = true;
      this.#stop(worker, timers);
    };

    const outcome = await new Promise<JobOutcome>((resolve) => {
      let deadline: NodeJS.Timeout | undefined;
      let marks = 0;
      let ended: JobOutcome | undefined;
      let drainTimer: NodeJS.Timeout | undefined;
      const ending = (result: JobOutcome): void => {
        ended ??= result;
        if (marks >= 2) return finish(ended);
        // A worker that cannot print its marks (its streams closed) must not hold the job forever.
        drainTimer ??= setTimeout(() => finish(ended ?? result), 5_000);
      };
      worker.onMark = () => {
        marks++;
        if (marks >= 2 && ended !== undefined) finish(ended);
      };
      const finish = (result: JobOutcome): void => {
        clearTimeout(drainTimer);
        child.off('message', onMessage);
        child.off('exit', onExit);
        options.signal?.removeEventListener('abort', onAbort);
        clearTimeout(deadline);
        // After a timeout the node sees an abort and may report it as its own error: the timeout is the cause.
        const timeout = `timed out after ${formatDuration(options.timeoutMs ?? 0)} (its worker was stopped)`;
        resolve(aborted ? {status: 'aborted'} : timedOut ? {status: 'error', message: timeout} : result);
      };

      const onMessage = (m: WorkerMessage): void => {
        switch (m.type) {
          case 'ready':
            break;
          case 'progress':
            options.listener.progress(m.fraction, m.info);
            break;
          case 'log':
            options.listener.log(m.message);
            break;
          case 'metric':
            metrics[m.name] = m.value;
            options.listener.metric(m.name, m.value);
            break;
          case 'done':
            ending({status: 'ok', outputs: m.outputs, metrics});
            break;
          case 'error':
            stale ||= m.stale === true;
            ending(m.stack === undefined ? {status: 'error', message: m.message} : {status: 'error', message: m.message, stack: m.stack});
            break;
          default: {
            const never: never = m;
            throw new Error(`Internal error: unknown worker message ${JSON.stringify(never)}`);
          }
        }
      };
      // Finished once the worker's output streams have ended too, so every byte it printed is delivered (bounded: a
      // grandchild process holding the pipes open must not hold the job).
      const onExit = (code: number | null, signal: NodeJS.Signals | null): void => {
        const outcome: JobOutcome = ended ?? {status: 'error', message: `worker process exited unexpectedly (${signal ?? `code ${code}`})`};
        void Promise.race([worker.drained, new Promise((r) => setTimeout(r, 1_000))]).then(() => finish(outcome));
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      if (options.signal?.aborted === true) {
        onAbort();
        return;
      }
      options.signal?.addEventListener('abort', onAbort, {once: true});
      worker.ready.then(
        () => {
          if (aborted || worker.exited) return;
          child.send({type: 'run', job: {...job, outputMark: mark}} satisfies ParentMessage);
          // The clock starts with the node, not with the worker's start-up (seconds on a loaded machine).
          if (options.timeoutMs !== undefined) {
            deadline = setTimeout(() => {
              timedOut = true;
              // A node that ignores its abort signal is killed; its exit then finishes the job.
              this.#stop(worker, timers);
            }, options.timeoutMs);
          }
        },
        (error: unknown) => finish({status: 'error', message: error instanceof Error ? error.message : String(error)}),
      );
    });
    worker.onOutput = undefined;
    worker.mark = undefined;
    worker.onMark = undefined;

    // A worker that failed, crashed, was aborted or ran a gpu node is not reused.
    if (outcome.status === 'ok' && !options.exclusive && !worker.exited && !this.#closed && this.#idle.length < this.#options.maxIdle) {
      this.#idle.push(worker);
    } else if (aborted || timedOut) {
      // #stop's timers finish it off.
    } else {
      this.#stop(worker, timers);
    }
    // Only a reused worker can hold old code: the job goes to a fresh one, which loads the module as it is now.
    if (stale && reused !== undefined && outcome.status === 'error') return this.#run(job, options, true);
    return outcome;
  }

  /** Asks the worker to stop: abort message now, SIGTERM after the grace period, SIGKILL after another. */
  #stop(worker: Worker, timers: NodeJS.Timeout[]): void {
    if (worker.exited) return;
    const grace = this.#options.graceMs ?? 2_000;
    const {child} = worker;
    if (child.connected) child.send({type: 'abort'} satisfies ParentMessage, () => undefined);
    if (child.connected) child.disconnect();
    timers.push(
      setTimeout(() => {
        if (!worker.exited) child.kill('SIGTERM');
      }, grace).unref(),
      setTimeout(() => {
        if (!worker.exited) child.kill('SIGKILL');
      }, 2 * grace).unref(),
    );
    child.once('exit', () => timers.forEach(clearTimeout));
  }

  /** Stops every worker and resolves when all have exited. */
  async close(): Promise<void> {
    this.#closed = true;
    const all = [...this.#all];
    await Promise.all(
      all.map(
        (worker) =>
          new Promise<void>((resolve) => {
            if (worker.exited) return resolve();
            worker.child.once('exit', () => resolve());
            this.#stop(worker, []);
          }),
      ),
    );
  }
}
