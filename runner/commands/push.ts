/** `distillery push [PIPELINE...]`: upload cache entries (and the run records of those pipelines) to a remote. */
import pLimit from 'p-limit';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {parseOptions, positiveInt} from './parse-options.js';
import {pipelineKeys} from './pipeline-keys.js';
import type {KeyedInstance} from './pipeline-keys.js';
import {formatByteSize} from '../../cache/byte-size.js';
import {unreachable} from '../unreachable.js';

const HELP = `Usage: distillery push [PIPELINE...] [options]

Uploads to the remote every entry of the local cache that the pipelines reference (every entry when no pipeline
is given), and the run records of those pipelines. Entries the remote has already are skipped; each entry's files
go up first and its manifest last, so an interrupted push leaves nothing half-visible and a retry uploads only
what is missing. Files are checked against their hashes before they go up.

Options:
  --set KEY=VALUE     override a value of the pipelines (repeatable), as for run
  --jobs N            entries uploaded at once (default 4)
${STORE_HELP}

Exit codes: 0 everything pushed, 1 some entries or run records were not uploaded (each is named), 2 bad input.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {set: {type: 'string', multiple: true}, jobs: {type: 'string'}, ...STORE_OPTIONS},
  });
  if (!parsed.ok) {
    io.stderr.write(`distillery push: ${parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const jobs = positiveInt('jobs', values.jobs);
  if (typeof jobs === 'object') {
    io.stderr.write(`distillery push: ${jobs.error}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const wanted = positionals.length === 0 ? undefined : await pipelineKeys(positionals, values.set ?? [], io);
  if (positionals.length > 0 && wanted === undefined) return EXIT.badInput;
  const opened = await openStore(values, io, {requireRemote: true, onlyIfExists: true});
  if (opened === undefined) return EXIT.badInput;
  const remote = opened.remote;
  if (remote === undefined) return EXIT.badInput;
  const local = opened.local;

  const instances: KeyedInstance[] =
    wanted?.instances ?? (local === undefined ? [] : (await local.list()).map((e) => ({id: e.nodeId, key: e.key})));
  const limit = pLimit(jobs ?? 4);
  let pushed = 0;
  let present = 0;
  let bytes = 0;
  const missing: KeyedInstance[] = [];
  const failed: Array<{instance: KeyedInstance; reason: string}> = [];
  // Once the remote is down or refuses us, the rest is not tried: each would wait out the same timeouts.
  let down: string | undefined;
  await Promise.all(
    instances.map((instance) =>
      limit(async () => {
        if (down !== undefined) {
          failed.push({instance, reason: `not tried: ${down}`});
          return;
        }
        const found = local === undefined ? ({status: 'miss'} as const) : await local.get(instance.key, {touch: false});
        if (found.status !== 'hit') {
          missing.push(instance);
          return;
        }
        const outcome = await remote.publish(found.entry);
        switch (outcome.status) {
          case 'published':
            pushed++;
            bytes += outcome.bytes;
            io.stdout.write(`pushed    ${instance.id} (${formatByteSize(outcome.bytes)})\n`);
            return;
          case 'present':
            present++;
            return;
          case 'bad':
            failed.push({instance, reason: `local entry damaged, not pushed: ${outcome.reason}`});
            return;
          case 'failed':
            failed.push({instance, reason: outcome.reason});
            if (outcome.kind !== 'failed') down ??= `${remote.name} is ${outcome.kind}`;
            return;
          default:
            return unreachable(outcome);
        }
      }),
    ),
  );
  const {pushRunRecords} = await import('../run-transfer.js');
  const records = await pushRunRecords(remote, io.cwd, wanted?.names, io.env);
  remote.close();

  io.stdout.write(
    `pushed ${pushed} entr${pushed === 1 ? 'y' : 'ies'} (${formatByteSize(bytes)}) and ${records.moved} run record${records.moved === 1 ? '' : 's'} to ${remote.name} (${remote.location})` +
      `; ${present} already there` +
      (missing.length > 0 ? `; ${missing.length} not in the local cache (run the pipeline first)` : '') +
      '\n',
  );
  if (failed.length === 0 && records.failed.length === 0) return EXIT.ok;
  io.stderr.write(`Not pushed (${failed.length + records.failed.length}):\n`);
  for (const f of failed.sort((a, b) => a.instance.id.localeCompare(b.instance.id))) {
    io.stderr.write(`  ${f.instance.id} (${f.instance.key}): ${f.reason}\n`);
  }
  for (const f of records.failed) io.stderr.write(`  run record ${f.runId}: ${f.reason}\n`);
  return EXIT.nodeFailed;
}

const command: Command = {summary: 'upload cache entries and run records to a remote', help: HELP, run};
export default command;
