/**
 * `distillery results [FILE] [--runs all|ID...]`: one row per result instance (every grid variant's terminal instances
 * and the baselines that feed only the report; see result-instances.ts), with a column per metric; the instances of
 * a repeated node are folded into one row with means, standard deviations and n (fold-repeats.ts) unless
 * `--per-instance`. Without `--runs`, for the current plan, read from the cache (like `dvc exp show`); with it, from
 * past run records, one row per result instance per run. Nothing is computed.
 */
import {resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {TABLE_HELP, TABLE_OPTIONS, applyTableOptions, readTableOptions} from './table-options.js';
import type {ResultRow} from '../result-rows.js';
import {dropEmptyColumns, renderTable} from '../table.js';

const HELP = `Usage: distillery results FILE [options]
       distillery results [FILE] --runs all|RUN [RUN...] [options]

Shows one row per result instance: every grid variant's terminal instances and the baselines that feed only the
report (in the quickstart: each eval{...}, evalPlain, evalRandom, evalTeacher, and the report). Columns: the
instance, its grid values, its status, then one column per metric.

The instances of a repeated node (repeat: K, or a map over x[each]) are one row, e.g. evalRandom[*]: each metric
is the mean over its instances, std(METRIC) its standard deviation (population, as numpy's default) and n the
number of instances with metrics. --per-instance shows them one row each instead.

Without --runs the rows are the current pipeline's (after --set), read from the cache: status 'done', or
'missing' when the instance is not computed yet. With --runs they come from the run records in .distillery/runs
(see distillery runs), with a run column and the recorded status (cached, ran, failed, skipped); FILE then keeps
only the runs of that pipeline.

Options:
  --set KEY=VALUE      override a value of the pipeline (repeatable), as for run
  --runs all|RUN...    read past runs instead of the cache: all, or run ids (a unique prefix, latest, latest~N),
                       several as --runs A B, --runs A,B or --runs A --runs B
  --per-instance       one row per instance of a repeated node, instead of one row with mean, std and n
${TABLE_HELP}
${STORE_HELP}

With a remote, instances not in the local cache are read from the remote's manifests (metrics travel in the
manifest, so nothing is downloaded).

Exit codes: 0 ok, 2 bad input.
`;

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      set: {type: 'string', multiple: true},
      runs: {type: 'string', multiple: true},
      'per-instance': {type: 'boolean'},
      ...STORE_OPTIONS,
      ...TABLE_OPTIONS,
    },
  });
  const usage = (message: string): number => {
    io.stderr.write(`distillery results: ${message}\n\n${HELP}`);
    return EXIT.badInput;
  };
  if (!parsed.ok) return usage(parsed.message);
  const {values, positionals} = parsed.value;
  const options = readTableOptions(values);
  if (!options.ok) return usage(options.error);
  // `--runs A B` reads as run names after the option: with --runs, a positional that is not a file is a run name.
  const {existsSync} = await import('node:fs');
  const files = values.runs === undefined ? positionals : positionals.filter((p) => existsSync(resolve(io.cwd, p)));
  const runs = values.runs === undefined ? undefined : [...values.runs, ...positionals.filter((p) => !files.includes(p))];
  if (files.length > 1 || (files.length === 0 && runs === undefined)) return usage('expected one pipeline FILE (optional with --runs)');
  if (runs !== undefined && values.set !== undefined) return usage('--set applies to the current pipeline, not to recorded runs');

  let rows: ResultRow[];
  if (runs === undefined) {
    const {analyzeOrReport} = await import('./analyze-or-report.js');
    const plan = await analyzeOrReport(resolve(io.cwd, files[0] ?? ''), values.set ?? [], io);
    if (plan === undefined) return EXIT.badInput;
    const {currentResults} = await import('../result-rows.js');
    const opened = await openStore(values, io, {onlyIfExists: true, mode: 'read'});
    if (opened === undefined) return EXIT.badInput;
    rows = await currentResults(plan, async (key) => {
      // touch: false, so reading results does not count as a use for garbage collection.
      const local = await opened.store.get(key, {touch: false});
      return local.status === 'hit' ? local.entry.manifest : opened.tiered?.remoteManifest(key);
    });
    const trouble = opened.tiered?.remoteDown;
    opened.close();
    if (trouble !== undefined) io.stderr.write(`warning: remote ${opened.remote?.name ?? ''} is unavailable; showing the local cache only: ${trouble}\n`);
  } else {
    const [{readRunRecords, selectRuns}, {recordedResults}] = await Promise.all([import('../run-records.js'), import('../result-rows.js')]);
    const records = await readRunRecords(io.cwd);
    let candidates = records.runs;
    if (files[0] !== undefined) {
      const file = resolve(io.cwd, files[0]);
      candidates = candidates.filter((r) => r.file === file);
    }
    const selected = selectRuns(candidates, runs.flatMap((r) => r.split(/[\s,]+/)).filter((r) => r !== ''));
    if (!selected.ok) return usage(selected.error);
    rows = selected.value.flatMap(recordedResults);
  }

  if (values['per-instance'] !== true) {
    const {foldRepeats} = await import('../fold-repeats.js');
    rows = foldRepeats(rows);
  }
  const {resultTable, stdColumn} = await import('../result-rows.js');
  const {table, source} = resultTable(rows);
  const shown = applyTableOptions(table, options.value);
  if (!shown.ok) return usage(shown.error);
  if (options.value.format === 'json') {
    io.stdout.write(JSON.stringify(shown.value.rows.map((r) => source.get(r)), null, 2) + '\n');
  } else {
    // Metric columns that only rows filtered out by --where had are left out; the grid columns always stay.
    const metrics = new Set(rows.flatMap((r) => Object.keys(r.metrics)).flatMap((m) => [m, `metric:${m}`, stdColumn(m), stdColumn(`metric:${m}`)]));
    io.stdout.write(renderTable(dropEmptyColumns(shown.value, table.columns.filter((c) => !metrics.has(c))), options.value.format));
  }
  return EXIT.ok;
}

const command: Command = {summary: 'results of every terminal and baseline instance: from the cache, or from past runs', help: HELP, run};
export default command;
