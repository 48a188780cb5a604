/** `distillery cache ls|verify|gc`: inspect, check and bound the cache. */
import {resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {openStore} from './open-store.js';
import {useColor} from './use-color.js';
import {formatByteSize, parseByteSize} from '../../cache/byte-size.js';

/** A collection bigger than this lists what it would remove and waits for --yes. */
const GC_CONFIRM_ENTRIES = 100;
const GC_CONFIRM_BYTES = 10 * 1024 ** 3;

const HELP = `Usage: distillery cache <ls|verify|gc> [options]

  ls [--json]            list entries: key, node id, type, size, age (--json: one JSON array)
  verify [--repair]      re-hash every file of every entry; exit 1 if any entry is bad (--repair removes them)
  gc [--max-size SIZE] [--keep PIPELINE]... [PIPELINE...] [--dry-run] [--yes]
                         keep every entry the given pipelines reference; remove the others, least recently used
                         first, until the cache is at most SIZE (e.g. 10G, 500M); with pipelines but no --max-size,
                         remove everything they do not reference. Never removes what a running run reads. Always
                         cleans abandoned temp folders and dead locks. --dry-run only lists what would go; removing
                         more than ${GC_CONFIRM_ENTRIES} entries or ${formatByteSize(GC_CONFIRM_BYTES)} needs --yes.

Options:
  --cache-dir DIR        cache location (default: $DISTILLERY_CACHE, else .distillery/cache)

Exit codes: 0 ok, 1 verify found bad entries, 2 bad input.
`;

function age(from: Date, now: number): string {
  const s = Math.max(0, (now - from.getTime()) / 1000);
  if (s < 120) return `${Math.round(s)}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172_800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86_400)}d`;
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      'cache-dir': {type: 'string'},
      'max-size': {type: 'string'},
      keep: {type: 'string', multiple: true},
      repair: {type: 'boolean'},
      json: {type: 'boolean'},
      'dry-run': {type: 'boolean'},
      yes: {type: 'boolean'},
    },
  });
  if (!parsed.ok) {
    io.stderr.write(`distillery cache: ${parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const [sub, ...rest] = positionals;
  const bad = (message: string): number => {
    io.stderr.write(`distillery cache: ${message}\n\n${HELP}`);
    return EXIT.badInput;
  };
  if (sub !== 'ls' && sub !== 'verify' && sub !== 'gc') return bad(`expected ls, verify or gc, got ${sub ?? 'nothing'}`);
  if (sub !== 'gc' && (rest.length > 0 || values.keep !== undefined || values['max-size'] !== undefined || values['dry-run'] === true || values.yes === true)) {
    return bad(`${sub} takes no pipelines or gc options`);
  }
  if (sub !== 'ls' && values.json === true) return bad('--json is an option of ls');
  const maxBytes = values['max-size'] === undefined ? undefined : parseByteSize(values['max-size']);
  if (values['max-size'] !== undefined && maxBytes === undefined) return bad(`--max-size: cannot read '${values['max-size']}' as a size`);

  // The local cache only: remotes have their own command (`distillery remote`). Only gc and verify --repair change
  // the cache; ls and verify must work on a cache they may not write to.
  const mode = sub === 'gc' || (sub === 'verify' && values.repair === true) ? 'write' : 'read';
  const opened = await openStore({'cache-dir': values['cache-dir'], 'no-remote': true}, io, {mode});
  if (opened === undefined) return EXIT.badInput;
  const store = opened.store;
  switch (sub) {
    case 'ls': {
      const now = Date.now();
      const entries = await store.list();
      if (values.json === true) {
        const rows = entries.map((e) => ({key: e.key, nodeId: e.nodeId, type: e.type, size: e.size, createdAt: e.createdAt, lastUsed: e.lastUsed.toISOString()}));
        io.stdout.write(JSON.stringify(rows, null, 1) + '\n');
        return EXIT.ok;
      }
      for (const e of entries.sort((a, b) => a.nodeId.localeCompare(b.nodeId))) {
        io.stdout.write(`${e.key}  ${formatByteSize(e.size).padStart(6)}  ${age(new Date(e.createdAt), now).padStart(4)}  ${e.type}  ${e.nodeId}\n`);
      }
      const total = entries.reduce((s, e) => s + e.size, 0);
      io.stdout.write(`${entries.length} entries, ${formatByteSize(total)} in ${store.location}\n`);
      return EXIT.ok;
    }
    case 'verify': {
      const report = await store.verify({repair: values.repair === true});
      for (const p of report.problems) io.stdout.write(`BAD ${p.key}: ${p.reason}${values.repair === true ? ' (removed)' : ''}\n`);
      io.stdout.write(`${report.checked} entries checked, ${report.problems.length} bad\n`);
      return report.problems.length > 0 ? EXIT.nodeFailed : EXIT.ok;
    }
    case 'gc': {
      const pipelines = [...(values.keep ?? []), ...rest];
      let keep: Set<string> | undefined;
      if (pipelines.length > 0) {
        const {analyzePipeline} = await import('../analyze-pipeline.js');
        keep = new Set();
        for (const file of pipelines) {
          const analyzed = await analyzePipeline(resolve(io.cwd, file), {env: io.env, cwd: io.cwd});
          if (!analyzed.ok) {
            const {renderDiagnostics} = await import('../diagnostic.js');
            io.stderr.write(renderDiagnostics(analyzed.error, {color: useColor(io.stderr, io.env)}));
            return EXIT.badInput;
          }
          for (const node of analyzed.value.nodes.values()) keep.add(node.key);
        }
      }
      const choice = {...(keep === undefined ? {} : {keep}), ...(maxBytes === undefined ? {} : {maxBytes})};
      const planned = await store.gc({...choice, dryRun: true});
      const big = planned.removed.length > GC_CONFIRM_ENTRIES || planned.freedBytes > GC_CONFIRM_BYTES;
      if (values['dry-run'] === true || (big && values.yes !== true)) {
        const byKey = new Map((await store.list()).map((e) => [e.key, e]));
        for (const key of planned.removed) {
          const e = byKey.get(key);
          io.stdout.write(`would remove ${key}  ${formatByteSize(e?.size ?? 0).padStart(6)}  ${e?.type ?? ''}  ${e?.nodeId ?? ''}\n`);
        }
        io.stdout.write(`would remove ${planned.removed.length} entries (${formatByteSize(planned.freedBytes)}), ${formatByteSize(planned.remainingBytes)} left\n`);
        if (values['dry-run'] === true) return EXIT.ok;
        io.stderr.write(`distillery cache: not removing ${planned.removed.length} entries (${formatByteSize(planned.freedBytes)}) without --yes: ` +
          `more than ${GC_CONFIRM_ENTRIES} entries or ${formatByteSize(GC_CONFIRM_BYTES)}\n`);
        return EXIT.badInput;
      }
      const report = await store.gc(choice);
      io.stdout.write(
        `removed ${report.removed.length} entries (${formatByteSize(report.freedBytes)}), ${formatByteSize(report.remainingBytes)} left` +
          (report.leasedKept > 0 ? `; kept ${report.leasedKept} in use by a running run` : '') +
          (report.strayRemoved > 0 ? `; cleaned ${report.strayRemoved} abandoned temp folders/locks/leases` : '') +
          '\n',
      );
      return EXIT.ok;
    }
  }
}

const command: Command = {summary: 'list, verify and garbage-collect the cache', help: HELP, run};
export default command;
