/** `distillery plan FILE`: what a run would do: each instance cached or to run, and with --explain, why. */
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {analyzeOrReport} from './analyze-or-report.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {parseOptions} from './parse-options.js';
import type {Located} from '../plan-status.js';

const HELP = `Usage: distillery plan FILE [options]

Analyzes a pipeline and shows, for every node instance, whether its result is already cached or it will run.
Nothing is run.

Options:
  --set KEY=VALUE     override a value of the pipeline (repeatable)
  --explain           say why each instance will run, compared with the last recorded run: never run before,
                      param X changed (old -> new), input P changed, code of the type changed, environment changed;
                      for a cached instance, when, where and in which run it was produced
  --json              print the plan as JSON
${STORE_HELP}

With a remote, instances cached there (and not locally) show as \`remote\`: a run fetches them instead of
computing them. Only manifests are read; nothing is downloaded. Nothing is created either: planning before the
first run leaves no cache folder.

Exit codes: 0 ok, 2 bad input.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      set: {type: 'string', multiple: true},
      explain: {type: 'boolean'},
      json: {type: 'boolean'},
      ...STORE_OPTIONS,
    },
  });
  if (!parsed.ok || parsed.value.positionals.length !== 1) {
    io.stderr.write(`distillery plan: ${parsed.ok ? 'expected exactly one pipeline FILE' : parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const plan = await analyzeOrReport(positionals[0] ?? '', values.set ?? [], io, 'write');
  if (plan === undefined) return EXIT.badInput;
  const explain = values.explain === true;
  const [{planStatus, renderPlanStatus}, {lastRecorded, producingRuns}] = await Promise.all([import('../plan-status.js'), import('../run-history.js')]);
  const history = explain ? await lastRecorded(io.cwd, new Set(plan.order)) : undefined;
  const producedBy = explain ? await producingRuns(io.cwd, new Set([...plan.nodes.values()].map((n) => n.key))) : undefined;
  const opened = await openStore(values, io, {onlyIfExists: true, mode: 'read'});
  if (opened === undefined) return EXIT.badInput;
  const locate = async (key: string): Promise<Located> => {
    // touch: false, so planning does not count as a use for garbage collection.
    const local = await opened.store.get(key, {touch: false});
    if (local.status === 'hit') return {where: 'local', manifest: local.entry.manifest};
    const remote = await opened.tiered?.remoteManifest(key);
    return remote === undefined ? {where: 'none'} : {where: 'remote', manifest: remote};
  };
  const statuses = await planStatus(plan, locate, history, producedBy);
  const remoteTrouble = opened.tiered?.remoteDown;
  opened.close();
  if (remoteTrouble !== undefined) io.stderr.write(`warning: remote ${opened.remote?.name ?? ''} is unavailable; showing the local cache only: ${remoteTrouble}\n`);
  if (values.json === true) {
    const body = {
      name: plan.name,
      file: plan.file,
      nodes: statuses.map((s) => ({...s, ...(explain ? {} : {reasons: undefined})})),
      variants: plan.variants,
    };
    io.stdout.write(JSON.stringify(body, null, 2) + '\n');
  } else {
    io.stdout.write(renderPlanStatus(plan, statuses, explain, remoteTrouble === undefined ? opened.remote?.name : undefined));
  }
  return EXIT.ok;
}

/** The `plan` command. */
const command: Command = {summary: 'show what a run would compute or take from the cache (and why)', help: HELP, run};
export default command;
