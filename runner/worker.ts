/**
 * Entry of a worker child process: receives node jobs over IPC, runs each in-process and reports back.
 * It never touches the cache: it writes into the staging folder it is given, and the parent commits.
 */
import {existsSync, readFileSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import type {InputValue, JsonValue, NodeContext, NodeDefinition, UpstreamInfo} from '../nodes/api.js';
import {currentImplementation, loadNodeType} from './registry.js';
import {unreachable} from './unreachable.js';
import type {JobInput, ParentMessage, WorkerJob, WorkerMessage, WrittenOutput} from './worker-protocol.js';

function send(message: WorkerMessage): void {
  // After the parent disconnected (it stopped this worker, or died) there is nobody to tell; sending would throw.
  if (process.connected) process.send?.(message);
}

// Ctrl-C in a terminal reaches the whole process group; the parent decides how a node is stopped (abort message,
// then SIGTERM/SIGKILL), so a worker must not die half-way on its own.
process.on('SIGINT', () => undefined);
// The parent is gone (it exited or was killed -9): nothing would commit our output, so stop now.
process.on('disconnect', () => process.exit(0));

let current: AbortController | undefined;

/** The implementation hash of each type this process has checked, as it was the first time (module and type). */
const loadedImplementations = new Map<string, string>();

/** The job's module is not the code it was planned with: running it would file other code's output under its key. */
class RefusedJob extends Error {}

/** This process loaded the module before it changed on disk: a fresh process would load the job's code. */
class StaleCode extends Error {}

/**
 * Checks a job that names its implementation hash (cluster jobs) against the module: as it is on disk now, and as this
 * process loaded it (modules are imported once per process, so a module edited since runs as it was).
 */
async function checkImplementation(job: WorkerJob, definition: NodeDefinition): Promise<void> {
  if (job.implementation === undefined) return;
  const onDisk = await currentImplementation(job.module, definition);
  const id = `${job.module}\0${job.type}`;
  const loaded = loadedImplementations.get(id) ?? onDisk;
  loadedImplementations.set(id, loaded);
  if (onDisk !== job.implementation) {
    const where = job.module.startsWith('builtin:') ? `the built-in type "${job.type}"` : `node type "${job.type}" in ${job.module}`;
    throw new RefusedJob(
      `refused: this worker's copy of ${where} is not the code the job was planned with (implementation ${onDisk} here, ` +
        `${job.implementation} in the job); bring the worker's checkout to the planning machine's version`,
    );
  }
  if (loaded !== onDisk) throw new StaleCode(`node type "${job.type}" changed since this worker process loaded it`);
}

function loadInput(input: JobInput): InputValue | readonly InputValue[] | undefined {
  const values = input.sources.map((s): InputValue =>
    s.format === 'json' ? (JSON.parse(readFileSync(s.path, 'utf8')) as JsonValue) : s.path,
  );
  return input.many ? values : values[0];
}

/** Port names become file names: keep them to a safe alphabet. */
function checkPort(job: WorkerJob, port: string): void {
  if (!Object.hasOwn(job.outputs, port)) throw new Error(`node wrote undeclared output port '${port}'`);
  if (!/^[A-Za-z0-9_-]+$/.test(port)) throw new Error(`output port name '${port}' cannot be a file name`);
}

async function runJob(job: WorkerJob): Promise<void> {
  current = new AbortController();
  const written: Record<string, WrittenOutput> = {};
  try {
    const definition = await loadNodeType(job.module, job.type);
    await checkImplementation(job, definition);
    const inputs: Record<string, InputValue | readonly InputValue[] | undefined> = {};
    const upstream: Record<string, readonly UpstreamInfo[]> = {};
    for (const [port, input] of Object.entries(job.inputs)) {
      inputs[port] = loadInput(input);
      upstream[port] = input.upstream;
    }
    const ctx: NodeContext = {
      id: job.id,
      type: job.type,
      params: job.params,
      inputs,
      upstream,
      seed: job.seed,
      device: job.device,
      signal: current.signal,
      progress(fraction, info) {
        send(info === undefined ? {type: 'progress', fraction} : {type: 'progress', fraction, info});
      },
      log(message) {
        send({type: 'log', message});
      },
      metric(name, value) {
        if (!Number.isFinite(value)) throw new Error(`metric '${name}' is not a finite number`);
        send({type: 'metric', name, value});
      },
      write(port, value) {
        checkPort(job, port);
        const file = `${port}.json`;
        writeFileSync(join(job.stageDir, file), JSON.stringify(value));
        written[port] = {format: 'json', file};
      },
      file(port, ext = '') {
        checkPort(job, port);
        if (!/^(\.[A-Za-z0-9_-]+)*$/.test(ext)) throw new Error(`file extension '${ext}' is not allowed`);
        const file = `${port}${ext}`;
        written[port] = {format: 'file', file};
        return join(job.stageDir, file);
      },
    };
    await definition.run(ctx);
    if (current.signal.aborted) throw new Error('aborted');
    for (const port of Object.keys(job.outputs)) {
      const out = written[port];
      if (out === undefined) throw new Error(`node did not write its output '${port}'`);
      if (!existsSync(join(job.stageDir, out.file))) throw new Error(`node did not create the file for output '${port}'`);
    }
    await endOutput(job.outputMark);
    send({type: 'done', outputs: written});
  } catch (error) {
    const e = error instanceof Error ? error : new Error(String(error));
    await endOutput(job.outputMark);
    if (e instanceof StaleCode) send({type: 'error', message: e.message, stale: true});
    // A refusal is no failure of the node: its stack would only point into distillery.
    else if (e instanceof RefusedJob || e.stack === undefined) send({type: 'error', message: e.message});
    else send({type: 'error', message: e.message, stack: e.stack});
  } finally {
    current = undefined;
  }
}

/** Prints the job's end mark on both streams, after everything the node printed (writes to one stream keep order). */
async function endOutput(mark: string | undefined): Promise<void> {
  if (mark === undefined) return;
  await Promise.all(
    [process.stdout, process.stderr].map((stream) => new Promise<void>((resolve) => stream.write(mark, () => resolve()))),
  );
}

process.on('message', (message: ParentMessage) => {
  switch (message.type) {
    case 'run':
      void runJob(message.job);
      break;
    case 'abort':
      current?.abort(new Error('aborted'));
      break;
    default:
      unreachable(message);
  }
});

send({type: 'ready'});
