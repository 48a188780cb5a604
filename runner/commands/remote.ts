/** `distillery remote ls|verify`: inspect and check a remote cache. */
import pLimit from 'p-limit';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {parseOptions} from './parse-options.js';
import {pipelineKeys} from './pipeline-keys.js';
import {formatByteSize} from '../../cache/byte-size.js';
import type {Manifest} from '../../cache/manifest.js';

const HELP = `Usage: distillery remote <ls|verify> [options]

  ls [PIPELINE...]       list the remote's entries: key, size, age, node type and id (only those the pipelines
                         reference, when pipelines are given; listing everything needs a remote that can list
                         folders: any folder or S3 remote, an HTTP server that lists folders as JSON)
  verify [--repair]      download every file of every entry and check it against its manifest; exit 1 if any is
                         bad (--repair removes bad entries from the remote)

Options:
  --set KEY=VALUE        override a value of the pipelines (repeatable), as for run
  --jobs N               entries checked at once (default 4)
${STORE_HELP.replace(/^ {2}--cache-dir[^\n]*\n/, '')}

Exit codes: 0 ok, 1 the remote is unreachable or verify found bad entries, 2 bad input.
`;

function age(from: string, now: number): string {
  const s = Math.max(0, (now - new Date(from).getTime()) / 1000);
  if (!Number.isFinite(s)) return '?';
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {set: {type: 'string', multiple: true}, repair: {type: 'boolean'}, jobs: {type: 'string'}, ...STORE_OPTIONS},
  });
  const bad = (message: string): number => {
    io.stderr.write(`distillery remote: ${message}\n\n${HELP}`);
    return EXIT.badInput;
  };
  if (!parsed.ok) return bad(parsed.message);
  const {values, positionals} = parsed.value;
  const [sub, ...rest] = positionals;
  if (sub !== 'ls' && sub !== 'verify') return bad(`expected ls or verify, got ${sub ?? 'nothing'}`);
  if (sub === 'verify' && rest.length > 0) return bad('verify takes no pipelines');
  if (sub === 'ls' && values.repair === true) return bad('--repair is for verify');
  const jobs = values.jobs === undefined ? 4 : Number(values.jobs);
  if (!Number.isInteger(jobs) || jobs < 1) return bad(`--jobs must be an integer >= 1, got '${values.jobs}'`);
  const wanted = rest.length === 0 ? undefined : await pipelineKeys(rest, values.set ?? [], io);
  if (rest.length > 0 && wanted === undefined) return EXIT.badInput;
  const opened = await openStore(values, io, {requireRemote: true, onlyIfExists: true});
  if (opened === undefined) return EXIT.badInput;
  const remote = opened.remote;
  if (remote === undefined) return EXIT.badInput;
  try {
    let keys: string[];
    if (wanted !== undefined) keys = wanted.instances.map((i) => i.key);
    else {
      const listed = await remote.keys();
      if (!Array.isArray(listed)) {
        io.stderr.write(`distillery remote: cannot list ${remote.name}: ${listed.reason}\n`);
        return EXIT.nodeFailed;
      }
      keys = listed;
    }
    const limit = pLimit(jobs);
    if (sub === 'ls') {
      const manifests = new Map<string, Manifest>();
      let trouble: string | undefined;
      await Promise.all(
        keys.map((key) =>
          limit(async () => {
            if (trouble !== undefined) return;
            const found = await remote.lookup(key);
            if (found.status === 'present') manifests.set(key, found.manifest);
            else if (found.status === 'failed') trouble = found.reason;
          }),
        ),
      );
      if (trouble !== undefined) {
        io.stderr.write(`distillery remote: ${remote.name} is unavailable: ${trouble}\n`);
        return EXIT.nodeFailed;
      }
      const now = Date.now();
      const rows = [...manifests.values()].sort((a, b) => a.producer.nodeId.localeCompare(b.producer.nodeId) || a.key.localeCompare(b.key));
      let total = 0;
      for (const m of rows) {
        const size = m.files.reduce((s, f) => s + f.size, 0);
        total += size;
        io.stdout.write(`${m.key}  ${formatByteSize(size).padStart(6)}  ${age(m.createdAt, now).padStart(4)}  ${m.producer.type}  ${m.producer.nodeId}\n`);
      }
      const missing = wanted === undefined ? '' : `; ${keys.length - rows.length} of the pipelines' ${keys.length} instances are not there`;
      io.stdout.write(`${rows.length} entries, ${formatByteSize(total)} on ${remote.name} (${remote.location})${missing}\n`);
      return EXIT.ok;
    }
    const problems: Array<{key: string; reason: string}> = [];
    let unreachable: string | undefined;
    await Promise.all(
      keys.map((key) =>
        limit(async () => {
          if (unreachable !== undefined) return;
          const result = await remote.check(key);
          if (result === undefined) return;
          if (typeof result === 'string') {
            problems.push({key, reason: result});
            if (values.repair === true) {
              const found = await remote.lookup(key);
              await remote.remove(key, found.status === 'present' ? found.manifest : undefined);
            }
          } else unreachable = result.reason;
        }),
      ),
    );
    if (unreachable !== undefined) {
      io.stderr.write(`distillery remote: ${remote.name} is unavailable: ${unreachable}\n`);
      return EXIT.nodeFailed;
    }
    for (const p of problems.sort((a, b) => a.key.localeCompare(b.key))) {
      io.stdout.write(`BAD ${p.key}: ${p.reason}${values.repair === true ? ' (removed)' : ''}\n`);
    }
    io.stdout.write(`${keys.length} entries checked on ${remote.name} (${remote.location}), ${problems.length} bad\n`);
    return problems.length > 0 ? EXIT.nodeFailed : EXIT.ok;
  } finally {
    remote.close();
  }
}

const command: Command = {summary: 'list and verify the entries of a remote cache', help: HELP, run};
export default command;
