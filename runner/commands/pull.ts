/** `distillery pull [PIPELINE...]`: download from a remote what the pipelines need (and their run records). */
import pLimit from 'p-limit';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {parseOptions, positiveInt} from './parse-options.js';
import {pipelineKeys} from './pipeline-keys.js';
import type {KeyedInstance} from './pipeline-keys.js';
import {formatByteSize} from '../../cache/byte-size.js';
import {unreachable} from '../unreachable.js';

const HELP = `Usage: distillery pull [PIPELINE...] [options]

Downloads from the remote every entry the pipelines reference that the local cache lacks (every entry on the
remote when no pipeline is given), and the run records of those pipelines. Each entry is checked against its
manifest's hashes before it is committed to the local cache; a damaged one is reported and not kept.
Afterwards \`distillery run\` computes nothing that was pulled, and \`results\`, reports and \`export\` read it.

Options:
  --set KEY=VALUE     override a value of the pipelines (repeatable), as for run
  --jobs N            entries downloaded at once (default 4)
${STORE_HELP}

Exit codes: 0 ok (entries the remote does not have are only counted), 1 some entries could not be downloaded or
were damaged (each is named), 2 bad input.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {set: {type: 'string', multiple: true}, jobs: {type: 'string'}, ...STORE_OPTIONS},
  });
  if (!parsed.ok) {
    io.stderr.write(`distillery pull: ${parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const jobs = positiveInt('jobs', values.jobs);
  if (typeof jobs === 'object') {
    io.stderr.write(`distillery pull: ${jobs.error}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const wanted = positionals.length === 0 ? undefined : await pipelineKeys(positionals, values.set ?? [], io);
  if (positionals.length > 0 && wanted === undefined) return EXIT.badInput;
  const opened = await openStore(values, io, {requireRemote: true});
  if (opened === undefined) return EXIT.badInput;
  const {remote, local} = opened;
  if (remote === undefined || local === undefined) return EXIT.badInput;

  let instances: KeyedInstance[];
  if (wanted !== undefined) instances = wanted.instances;
  else {
    const keys = await remote.keys();
    if (!Array.isArray(keys)) {
      remote.close();
      io.stderr.write(`distillery pull: cannot list ${remote.name}: ${keys.reason}\n`);
      return EXIT.nodeFailed;
    }
    instances = keys.map((key) => ({id: key, key}));
  }
  const limit = pLimit(jobs ?? 4);
  let pulled = 0;
  let here = 0;
  let bytes = 0;
  let absent = 0;
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
        if ((await local.get(instance.key, {touch: false})).status === 'hit') {
          here++;
          return;
        }
        const outcome = await remote.fetch(instance.key, local);
        switch (outcome.status) {
          case 'fetched':
            pulled++;
            bytes += outcome.bytes;
            io.stdout.write(`pulled    ${instance.id === instance.key ? `${outcome.entry.manifest.producer.nodeId} (${instance.key})` : instance.id} (${formatByteSize(outcome.bytes)})\n`);
            return;
          case 'absent':
            absent++;
            return;
          case 'bad':
            failed.push({instance, reason: `damaged on the remote, not kept: ${outcome.reason}`});
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
  const {pullRunRecords} = await import('../run-transfer.js');
  const records = await pullRunRecords(remote, io.cwd, wanted?.names, io.env);
  remote.close();
  io.stdout.write(
    `pulled ${pulled} entr${pulled === 1 ? 'y' : 'ies'} (${formatByteSize(bytes)}) and ${records.moved} run record${records.moved === 1 ? '' : 's'} from ${remote.name} (${remote.location})` +
      `; ${here} already here` +
      (absent > 0 ? `; ${absent} not on the remote (a run computes them)` : '') +
      '\n',
  );
  // Run records only improve explanations; a server that cannot list them is worth a note, not a failure.
  for (const f of records.failed) io.stderr.write(`note: run records ${f.runId} not pulled: ${f.reason}\n`);
  if (failed.length === 0) return EXIT.ok;
  io.stderr.write(`Not pulled (${failed.length}):\n`);
  for (const f of failed.sort((a, b) => a.instance.id.localeCompare(b.instance.id))) {
    io.stderr.write(`  ${f.instance.id}${f.instance.id === f.instance.key ? '' : ` (${f.instance.key})`}: ${f.reason}\n`);
  }
  return EXIT.nodeFailed;
}

const command: Command = {summary: 'download what pipelines need (and their run records) from a remote', help: HELP, run};
export default command;
