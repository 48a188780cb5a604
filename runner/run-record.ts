/**
 * Run records: every run writes `<cwd>/.distillery/runs/<run-id>/summary.json` and `events.jsonl`, so a later
 * `plan --explain` can say what changed since the last run and a failure's stack is kept off the terminal.
 */
import {closeSync, createWriteStream, openSync, writeFileSync} from 'node:fs';
import type {WriteStream} from 'node:fs';
import {mkdir, writeFile} from 'node:fs/promises';
import {randomHex} from '../cache/random-hex.js';
import {dirname, join} from 'node:path';
import type {RunEvent, RunStatus} from './events.js';
import type {NodeReport} from './executor.js';
import type {RunDescription} from './run-description.js';
import {folderName} from './publish-reports.js';

/** One node of `summary.json`: the executor's report of it (seconds rounded to milliseconds). */
export type RecordedNode = NodeReport;

/**
 * The content of `summary.json`. The run-level description (overrides, params, grid, machine, result instances) is
 * optional because records written before it existed lack it; readers cope.
 */
export interface RunSummary extends Partial<RunDescription> {
  readonly pipeline: string;
  readonly file: string;
  readonly runId: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly status: RunStatus;
  readonly nodes: readonly RecordedNode[];
  /** A failure of the run rather than of a node (an environment problem, or an internal error and its stack). */
  readonly error?: string;
  readonly stack?: string;
}

/** The folder holding all run records under a working directory. */
export function runsDir(cwd: string): string {
  return join(cwd, '.distillery', 'runs');
}

/**
 * A run id that sorts chronologically as a string: the UTC time with `:` and `.` made file-name safe, plus 4 random
 * hex digits so two runs started in the same millisecond do not collide.
 */
export function newRunId(now: Date = new Date()): string {
  return `${now.toISOString().replace(/[:.]/g, '-')}-${randomHex(2)}`;
}

/** Builds the summary from the executor's reports. */
export function buildSummary(
  run: {pipeline: string; file: string; runId: string; startedAt: Date; finishedAt: Date; status: RunStatus},
  nodes: readonly NodeReport[],
  description?: RunDescription,
): RunSummary {
  return {
    pipeline: run.pipeline,
    file: run.file,
    runId: run.runId,
    startedAt: run.startedAt.toISOString(),
    finishedAt: run.finishedAt.toISOString(),
    status: run.status,
    ...description,
    nodes: nodes.map((n) => ({
      id: n.id,
      type: n.type,
      key: n.key,
      keyParts: n.keyParts,
      status: n.status,
      seconds: Math.round(n.seconds * 1000) / 1000,
      metrics: n.metrics,
      ...(n.error === undefined ? {} : {error: n.error}),
      ...(n.stack === undefined ? {} : {stack: n.stack}),
      ...(n.reason === undefined ? {} : {reason: n.reason}),
    })),
  };
}

/** About how long each piece of summaryPieces is. */
const PIECE_LENGTH = 64 * 1024;

/**
 * The text of `summary.json` in pieces of about 64 KB, in order: indented, with one line per node and per result
 * instance (a run of thousands of instances reads, writes and diffs faster than with every key part on a line of its
 * own). Written piece by piece, a large summary never becomes one string and one buffer of its whole size: those
 * would take fresh memory pages, which cost a short run more than the writes.
 */
export function summaryPieces(summary: RunSummary): string[] {
  const {nodes, results, ...rest} = summary;
  const head = JSON.stringify(rest, null, 2);
  const lists: Array<[string, readonly unknown[]]> = results === undefined ? [['nodes', nodes]] : [['results', results], ['nodes', nodes]];
  const pieces: string[] = [];
  let piece = `${head.slice(0, -2)}${head === '{}' ? '{\n' : ',\n'}`;
  lists.forEach(([name, list], i) => {
    piece += `  ${JSON.stringify(name)}: ${list.length === 0 ? '[]' : '[\n'}`;
    list.forEach((item, j) => {
      piece += `    ${JSON.stringify(item)}${j < list.length - 1 ? ',' : ''}\n`;
      if (piece.length >= PIECE_LENGTH) {
        pieces.push(piece);
        piece = '';
      }
    });
    piece += `${list.length === 0 ? '' : '  ]'}${i < lists.length - 1 ? ',' : ''}\n`;
  });
  pieces.push(`${piece}}\n`);
  return pieces;
}

/** The text of `summary.json` (see summaryPieces). */
export function summaryText(summary: RunSummary): string {
  return summaryPieces(summary).join('');
}

/** Writes one run's record: events as they come, the summary at the end. */
export class RunRecorder {
  readonly runId: string;
  readonly dir: string;
  /**
   * `events.jsonl`, written with synchronous appends: one per tick at most (see record), and a run's last lines
   * reach the file without a stream to drain at the end (for a cached run of 1,000 instances, the thread-pool round
   * trips of an asynchronous stream cost more than the writes). Undefined when it could not be opened.
   */
  #events: number | undefined;
  /** One log per started instance, open while it runs. */
  readonly #logs = new Map<string, WriteStream>();
  /** Event lines not yet written to `events.jsonl`. */
  readonly #pending: string[] = [];
  /** The last time #time made, and its millisecond. */
  #lastMs = NaN;
  #lastTime = '';

  private constructor(runId: string, dir: string) {
    this.runId = runId;
    this.dir = dir;
    // A full disk must not crash the run; the summary write reports the problem.
    this.#events = attempt(() => openSync(join(dir, 'events.jsonl'), 'a'));
  }

  /** Creates `<cwd>/.distillery/runs/<runId>/`. */
  static async create(cwd: string, runId: string = newRunId()): Promise<RunRecorder> {
    const dir = join(runsDir(cwd), runId);
    await mkdir(join(dir, 'logs'), {recursive: true});
    return new RunRecorder(runId, dir);
  }

  /** Where the log of instance `id` is: `logs/<id as a file name>.log` in the run's folder. */
  logPath(id: string): string {
    return join(this.dir, 'logs', `${folderName(id)}.log`);
  }

  /**
   * Appends an event (with its time) to `events.jsonl`, and a node's own lines (what it logged or printed, its
   * failure) to that node's log file, so every instance that ran has a log to point at.
   */
  record(event: RunEvent): void {
    const time = this.#time();
    // The lines of one tick go to the file in one write (a cached run records thousands of events at once).
    if (this.#pending.length === 0) process.nextTick(() => this.#flush());
    // `{"time": ..., ...event}` without copying the event into a new object first (an event is never empty).
    this.#pending.push(`{"time":"${time}",${JSON.stringify(event).slice(1)}\n`);
    switch (event.type) {
      case 'node-started': {
        this.#logs.get(event.id)?.end();
        const stream = createWriteStream(this.logPath(event.id), {flags: 'a'});
        stream.on('error', () => undefined);
        stream.write(`${time} start on ${event.device.kind} ${event.device.id}, attempt ${event.attempt}\n`);
        this.#logs.set(event.id, stream);
        break;
      }
      case 'node-log':
        this.#logs.get(event.id)?.write(`${event.message}\n`);
        break;
      case 'node-failed':
        this.#logs.get(event.id)?.write(`${time} FAILED: ${event.error}\n${event.stack ?? ''}${event.stack === undefined ? '' : '\n'}`);
        if (!event.willRetry) this.#closeLog(event.id);
        break;
      case 'node-succeeded':
        this.#logs.get(event.id)?.write(`${time} done in ${event.seconds.toFixed(2)} s\n`);
        this.#closeLog(event.id);
        break;
      case 'node-skipped':
        this.#closeLog(event.id);
        break;
      default:
        break;
    }
  }

  /** The time now as an ISO string, made once per millisecond (a cached run records a thousand events in a few). */
  #time(): string {
    const now = Date.now();
    if (now !== this.#lastMs) {
      this.#lastMs = now;
      this.#lastTime = new Date(now).toISOString();
    }
    return this.#lastTime;
  }

  #flush(): void {
    if (this.#pending.length === 0) return;
    const text = this.#pending.join('');
    this.#pending.length = 0;
    const fd = this.#events;
    // writeFileSync on a descriptor writes until all of the text is out (one write(2) may write less).
    if (fd !== undefined) attempt(() => writeFileSync(fd, text));
  }

  #closeLog(id: string): void {
    this.#logs.get(id)?.end();
    this.#logs.delete(id);
  }

  /** Writes `summary.json` (and a copy to `extraPath`, `--summary FILE`), and closes the event log. */
  async finish(summary: RunSummary, extraPath?: string): Promise<void> {
    const pieces = summaryPieces(summary);
    this.#flush();
    const fd = this.#events;
    // Forgotten before it is closed: a later line must never reach whatever file reuses the descriptor's number.
    this.#events = undefined;
    if (fd !== undefined) attempt(() => closeSync(fd));
    await Promise.all([...this.#logs.values()].map((stream) => new Promise<void>((resolve) => stream.end(resolve))));
    this.#logs.clear();
    // Synchronous too: nothing else is left to do, and a thread-pool write of a large summary only adds waiting.
    const summaryFd = openSync(join(this.dir, 'summary.json'), 'w');
    try {
      for (const piece of pieces) writeFileSync(summaryFd, piece);
    } finally {
      closeSync(summaryFd);
    }
    if (extraPath !== undefined) {
      await mkdir(dirname(extraPath), {recursive: true});
      await writeFile(extraPath, pieces.join(''));
    }
  }
}

/** The result of `f`, or undefined when it throws (record-keeping that must never end a run). */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}
