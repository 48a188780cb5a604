/** `distillery worker`: one machine of a cluster, taking node jobs from a Redis queue (docs/cluster.md). */
import {availableParallelism, hostname} from 'node:os';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions, positiveInt} from './parse-options.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {CLUSTER_HELP, CLUSTER_OPTIONS, clusterSettings} from './cluster-options.js';
import {renderDiagnostics} from '../diagnostic.js';
import {parseDuration} from '../duration.js';
import {MAX_JOBS} from '../limits.js';
import {loadProjectConfig} from '../project-config.js';
import {projectFolder} from '../project-folder.js';
import type {ClusterWorker} from '../cluster/cluster-worker.js';

/** Stall timeout when none is given: BullMQ's default lock duration. */
const DEFAULT_STALL = '30s';

const HELP = `Usage: distillery worker [options]

Runs one machine of a cluster: takes node jobs from the cluster's Redis queue (queued by
\`distillery run --executor bullmq\` on any machine), fetches their inputs from the remote cache, runs each node
in a worker process, commits the result to the local cache and pushes it to the remote. Jobs asking for a GPU
are taken only by workers started with --gpus, one GPU id per job. Runs until stopped (Ctrl-C or SIGTERM):
running nodes are then stopped and their jobs go back to the queue for other workers. With --exit-when-idle it
also leaves by itself once the queue has run dry.

A worker runs the code the jobs name: built-in node types, and custom modules found in this project folder
(the folder of distillery.config.yaml, else the working directory) at the path the job gives, only when their
content hash is the one the job was planned with. Keep the queue private: whoever can queue jobs can make this
machine run its project's modules.

Options:
${CLUSTER_HELP}
  --gpus 0,1          GPU ids this worker hands out (default: none, so it takes only CPU jobs)
  --jobs N            CPU jobs at once (default: the core count, at most ${MAX_JOBS})
  --name NAME         this worker's name in logs and in the runs' output (default: the host name)
  --stall-timeout DURATION
                      how long a job stays claimed by a worker that stopped answering (killed, machine gone)
                      before another worker takes it (default ${DEFAULT_STALL}; every worker of a queue should use
                      the same)
  --exit-when-idle DURATION
                      exit (code 0) once no job has been taken or running for DURATION, counted from the start
                      or from the end of the last job (e.g. 10m: a worker on a batch allocation or a rented
                      machine that frees it when the grid is done; default: run until stopped)
${STORE_HELP}

The remote is required: the runs and the other workers read results from it.

Exit codes: 0 stopped by SIGTERM or left after --exit-when-idle, 2 bad input (or Redis or the remote unreachable
at start), 130 stopped by Ctrl-C.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: false,
    options: {
      ...CLUSTER_OPTIONS,
      gpus: {type: 'string'},
      jobs: {type: 'string'},
      name: {type: 'string'},
      'stall-timeout': {type: 'string'},
      'exit-when-idle': {type: 'string'},
      ...STORE_OPTIONS,
    },
  });
  if (!parsed.ok) {
    io.stderr.write(`distillery worker: ${parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values} = parsed.value;
  const jobs = positiveInt('jobs', values.jobs, 1, MAX_JOBS);
  const stall = parseDuration(values['stall-timeout'] ?? DEFAULT_STALL);
  const idle = values['exit-when-idle'] === undefined ? undefined : parseDuration(values['exit-when-idle']);
  const problems = [
    typeof jobs === 'object' ? jobs.error : undefined,
    !stall.ok ? `--stall-timeout: ${stall.error}` : stall.value < 1_000 ? '--stall-timeout must be at least 1s' : undefined,
    idle === undefined ? undefined : !idle.ok ? `--exit-when-idle: ${idle.error}` : idle.value < 1_000 ? '--exit-when-idle must be at least 1s' : undefined,
    values.gpus !== undefined && !/^\d+(,\d+)*$/.test(values.gpus) ? `--gpus must be a list of ids like 0,1, got '${values.gpus}'` : undefined,
    values.name !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/.test(values.name)
      ? `--name must be letters, digits, '_', '.', '@' or '-' (at most 64), got '${values.name}'`
      : undefined,
  ].filter((p) => p !== undefined);
  if (problems.length > 0) {
    io.stderr.write(problems.map((p) => `distillery worker: ${p}\n`).join('') + `\n${HELP}`);
    return EXIT.badInput;
  }
  const config = values['no-remote'] === true ? undefined : await loadProjectConfig(io.cwd);
  if (config !== undefined && !config.ok) {
    io.stderr.write(renderDiagnostics(config.error, {color: io.stderr.isTTY === true}));
    return EXIT.badInput;
  }
  const settings = clusterSettings(values, config?.value ?? {remotes: new Map()}, io);
  if (!settings.ok) {
    io.stderr.write(renderDiagnostics([settings.error], {color: io.stderr.isTTY === true}));
    return EXIT.badInput;
  }
  const opened = await openStore(values, io, {readThrough: true, requireRemote: true});
  if (opened === undefined) return EXIT.badInput;
  if (opened.remote === undefined || opened.local === undefined) {
    opened.close();
    throw new Error('Internal error: a worker opened without a remote or a local cache');
  }
  const [{ClusterWorker: Worker, WorkerStartFailed}, {formatWorkerEvent}] = await Promise.all([
    import('../cluster/cluster-worker.js'),
    import('../cluster/worker-events.js'),
  ]);
  let worker: ClusterWorker;
  try {
    worker = await Worker.start({
      redis: settings.value.address,
      queue: settings.value.queue,
      name: values.name ?? hostname(),
      gpus: values.gpus === undefined ? [] : values.gpus.split(','),
      jobs: typeof jobs === 'number' ? jobs : availableParallelism(),
      local: opened.local,
      remote: opened.remote,
      projectDir: projectFolder(io.cwd),
      env: io.env,
      stallMs: stall.ok ? stall.value : 30_000,
      onEvent: (event) => io.stdout.write(formatWorkerEvent(event) + '\n'),
    });
  } catch (error) {
    opened.close();
    if (!(error instanceof WorkerStartFailed)) throw error;
    io.stderr.write(`distillery worker: error: ${error.message}\n`);
    return EXIT.badInput;
  }
  const code = await new Promise<number>((resolve) => {
    let signals = 0;
    const onSignal = (signal: NodeJS.Signals): void => {
      signals++;
      // A second signal means "now": every committed entry is whole, and the jobs left go back after the stall timeout.
      if (signals > 1) process.exit(EXIT.interrupted);
      void worker.stop().then(() => resolve(signal === 'SIGTERM' ? EXIT.ok : EXIT.interrupted));
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    if (idle?.ok === true) void worker.stopWhenIdle(idle.value).then(() => resolve(EXIT.ok));
  });
  opened.close();
  return code;
}

const command: Command = {summary: 'take node jobs from a cluster queue (Redis) and run them on this machine', help: HELP, run};
export default command;
