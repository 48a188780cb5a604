/** `distillery plan FILE`: what a run would do: each instance cached or to run, and with --explain, why. */
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {analyzeOrReport} from './analyze-or-report.js';
import {resolveCacheDir} from './cache-dir.js';
import {parseOptions} from './parse-options.js';

const HELP = `Usage: distillery plan FILE [options]

Analyzes a pipeline and shows, for every node instance, whether its result is already cached or it will run.
Nothing is run.

Options:
  --set KEY=VALUE     override a value of the pipeline (repeatable)
  --explain           say why each instance will run, compared with the last recorded run: never run before,
                      param X changed (old -> new), input P changed, code of the type changed, environment changed
  --json              print the plan as JSON
  --cache-dir DIR     cache location (default: $DISTILLERY_CACHE, else .distillery/cache)

Exit codes: 0 ok, 2 bad input.
`;

/**
 * A cache lookup that changes nothing: the store is opened read-only (a missing folder is an empty cache), and
 * lookups do not touch entries' access times, so planning does not affect garbage collection.
 */
async function cacheLookup(dir: string): Promise<(key: string) => Promise<boolean>> {
  const {LocalStore} = await import('../../cache/local-store.js');
  const store = await LocalStore.open(dir, {mode: 'read'});
  return async (key) => (await store.get(key, {touch: false})).status === 'hit';
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      set: {type: 'string', multiple: true},
      explain: {type: 'boolean'},
      json: {type: 'boolean'},
      'cache-dir': {type: 'string'},
    },
  });
  if (!parsed.ok || parsed.value.positionals.length !== 1) {
    io.stderr.write(`distillery plan: ${parsed.ok ? 'expected exactly one pipeline FILE' : parsed.message}\n\n${HELP}`);
    return EXIT.badInput;
  }
  const {values, positionals} = parsed.value;
  const plan = await analyzeOrReport(positionals[0] ?? '', values.set ?? [], io);
  if (plan === undefined) return EXIT.badInput;
  const explain = values.explain === true;
  const [{planStatus, renderPlanStatus}, {lastRecorded}] = await Promise.all([import('../plan-status.js'), import('../run-history.js')]);
  const history = explain ? await lastRecorded(io.cwd, new Set(plan.order)) : undefined;
  const statuses = await planStatus(plan, await cacheLookup(resolveCacheDir(values['cache-dir'], io.env, io.cwd)), history);
  if (values.json === true) {
    const body = {
      name: plan.name,
      file: plan.file,
      nodes: statuses.map((s) => ({...s, ...(explain ? {} : {reasons: undefined})})),
      variants: plan.variants,
    };
    io.stdout.write(JSON.stringify(body, null, 2) + '\n');
  } else {
    io.stdout.write(renderPlanStatus(plan, statuses, explain));
  }
  return EXIT.ok;
}

/** The `plan` command. */
const command: Command = {summary: 'show what a run would compute or take from the cache (and why)', help: HELP, run};
export default command;
