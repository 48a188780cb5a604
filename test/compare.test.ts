/**
 * Comparing experiments: `results` over every terminal and baseline instance, `runs`, `results --runs`, `diff`, and
 * the `--where` / `--sort` / `--format` machinery they share. Real runs of a toy pipeline in a temp folder.
 */
import {after, before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {readdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {main} from '../runner/cli.js';
import type {RunSummary} from '../runner/run-record.js';
import {dropEmptyColumns, filterAndSort, parseSort, parseWhere, renderTable} from '../runner/table.js';
import type {Table} from '../runner/table.js';
import {selectRuns} from '../runner/run-records.js';
import {makeRig} from './execute-rig.js';
import type {Rig} from './execute-rig.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(dir: string, args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, {stdout, stderr, cwd: dir, env: {DISTILLERY_BACKEND: 'cpu'}});
  return {code, stdout: stdout.text, stderr: stderr.text};
}

// A grid of two variants, a baseline (`base`) that only feeds a report, and the report.
const PIPELINE = `name: cmp
imports: [./toy-nodes.mjs]
params: {start: 1}
grid: {add: [1, 2]}
nodes:
  src: {type: toy-source, with: {value: "\${params.start}"}}
  add: {type: toy-add, in: {a: src}, with: {add: "\${grid.add}"}}
  base: {type: toy-add, in: {a: src}, with: {add: 100}}
  rep: {type: toy-report, in: {a: base}}
`;

describe('table: --where and --sort', () => {
  const table: Table = {
    columns: ['id', 'alpha', 'accuracy'],
    rows: [
      {id: 'a', alpha: 0.3, accuracy: 70},
      {id: 'b', alpha: 0.7, accuracy: 72.5},
      {id: 'c', alpha: undefined, accuracy: 65},
      {id: 'd', alpha: 0.3, accuracy: undefined},
    ],
  };
  const run = (where: string[], sort: string[]): string[] => {
    const w = parseWhere(where);
    const s = parseSort(sort);
    assert.ok(w.ok && s.ok);
    const out = filterAndSort(table, w.value, s.value);
    assert.ok(out.ok, out.ok ? '' : out.error);
    return out.value.rows.map((r) => String(r['id']));
  };

  it('filters by equality and numeric comparison, numbers compared as numbers', () => {
    assert.deepEqual(run(['alpha=0.3'], []), ['a', 'd']);
    assert.deepEqual(run(['alpha=.30'], []), ['a', 'd']);
    assert.deepEqual(run(['accuracy>=70'], []), ['a', 'b']);
    assert.deepEqual(run(['accuracy<70'], []), ['c']);
    assert.deepEqual(run(['alpha!=0.3'], []), ['b', 'c']);
    assert.deepEqual(run(['alpha=0.3', 'accuracy>1'], []), ['a']);
  });

  it('sorts ascending or :desc, ties stable, empty cells last either way', () => {
    assert.deepEqual(run([], ['accuracy']), ['c', 'a', 'b', 'd']);
    assert.deepEqual(run([], ['accuracy:desc']), ['b', 'a', 'c', 'd']);
    assert.deepEqual(run([], ['alpha:desc,accuracy']), ['b', 'a', 'd', 'c']);
  });

  it('an unknown column or a malformed clause is a message, with a did-you-mean', () => {
    const w = parseWhere(['acuracy>3']);
    assert.ok(w.ok);
    const out = filterAndSort(table, w.value, []);
    assert.equal(out.ok, false);
    assert.match(out.ok ? '' : out.error, /no column 'acuracy' \(did you mean "accuracy"\?\); the columns are: id, alpha, accuracy/);
    assert.equal(parseWhere(['alpha']).ok, false);
  });

  it('drops the columns empty in every row, except those kept', () => {
    const t: Table = {columns: ['id', 'grid', 'm1', 'm2'], rows: [{id: 'a', m1: 1}, {id: 'b', m2: ''}]};
    assert.deepEqual(dropEmptyColumns(t, ['id', 'grid']).columns, ['id', 'grid', 'm1']);
  });

  it('renders Markdown and CSV (CSV quoting, numbers to 6 significant digits)', () => {
    const t: Table = {columns: ['a', 'b'], rows: [{a: 'x,y', b: 1 / 3}, {a: 'p|q', b: 2}]};
    assert.equal(renderTable(t, 'csv'), 'a,b\n"x,y",0.333333\np|q,2\n');
    assert.equal(renderTable(t, 'md'), '| a | b |\n| --- | --- |\n| x,y | 0.333333 |\n| p\\|q | 2 |\n');
  });
});

describe('results, runs and diff on recorded runs', () => {
  let rig: Rig;
  before(async () => {
    rig = await makeRig();
    await writeFile(join(rig.dir, 'p.yaml'), PIPELINE);
    // Two runs: the pipeline as written, then with another grid and start value.
    assert.equal((await cli(rig.dir, ['run', 'p.yaml'])).code, 0);
    assert.equal((await cli(rig.dir, ['run', 'p.yaml', '--set', 'grid.add=[2,3]', '--set', 'params.start=5'])).code, 0);
  });
  after(async () => rig.cleanup());

  it('results shows every grid variant, the baseline that feeds only the report, and the report', async () => {
    const md = await cli(rig.dir, ['results', 'p.yaml']);
    assert.equal(md.code, 0, md.stderr);
    assert.equal(
      md.stdout,
      [
        '| instance | add | status | score |',
        '| --- | --- | --- | --- |',
        '| add{add=1} | 1 | done | 2 |',
        '| add{add=2} | 2 | done | 3 |',
        '| base |  | done | 101 |',
        '| rep |  | done |  |',
        '',
      ].join('\n'),
    );
    const missing = await cli(rig.dir, ['results', 'p.yaml', '--set', 'grid.add=[1,9]', '--format', 'csv', '--sort', 'score:desc']);
    assert.equal(missing.stdout, 'instance,add,status,score\nbase,,done,101\nadd{add=1},1,done,2\nadd{add=9},9,missing,\nrep,,done,\n');
    const json = JSON.parse((await cli(rig.dir, ['results', 'p.yaml', '--format', 'json', '--where', 'add=2'])).stdout) as unknown;
    assert.deepEqual(json, [{id: 'add{add=2}', node: 'add', type: 'toy-add', grid: {add: 2}, status: 'done', metrics: {score: 3}}]);
  });

  it('every run record lists its overrides, params, grid, machine and result instances', async () => {
    const runs = (await readdir(join(rig.dir, '.distillery', 'runs'))).sort();
    const second = JSON.parse(await readFile(join(rig.dir, '.distillery', 'runs', runs[1] ?? '', 'summary.json'), 'utf8')) as RunSummary;
    assert.deepEqual(second.overrides, ['grid.add=[2,3]', 'params.start=5']);
    assert.deepEqual(second.params, {start: 5});
    assert.deepEqual(second.grid, {add: [2, 3]});
    assert.equal(second.machine?.backend, 'cpu');
    assert.ok((second.machine?.cpus ?? 0) >= 1);
    assert.deepEqual(second.results?.map((r) => r.id), ['add{add=2}', 'add{add=3}', 'base', 'rep']);
  });

  it('runs lists both runs with their overrides and counts; --last and json', async () => {
    const text = await cli(rig.dir, ['runs', '--format', 'csv']);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.trim().split('\n');
    assert.equal(lines[0], 'run,date,pipeline,overrides,status,seconds,machine,ran,cached,failed');
    assert.equal(lines.length, 3);
    assert.match(lines[1] ?? '', /^\d{4}-\d\d-\d\dT[\d-]+Z-[0-9a-f]{4},\d{4}-\d\d-\d\d \d\d:\d\d,cmp,,ok,[\d.]+,"[^"]+ \(\d+ cores, cpu\)",5,0,0$/);
    assert.match(lines[2] ?? '', /,cmp,"grid\.add=\[2,3\] params\.start=5",ok,[\d.]+,"[^"]+",5,0,0$/);
    const last = JSON.parse((await cli(rig.dir, ['runs', '--last', '1', '--format', 'json'])).stdout) as RunSummary[];
    assert.equal(last.length, 1);
    assert.deepEqual(last[0]?.overrides, ['grid.add=[2,3]', 'params.start=5']);
    const filtered = await cli(rig.dir, ['runs', '--where', 'overrides=', '--format', 'csv']);
    assert.equal(filtered.stdout.trim().split('\n').length, 2);
  });

  it('results --runs all tabulates both runs side by side; filter and sort apply', async () => {
    const all = await cli(rig.dir, ['results', '--runs', 'all', '--format', 'csv', '--where', 'instance!=rep', '--sort', 'score:desc']);
    assert.equal(all.code, 0, all.stderr);
    const rows = all.stdout.trim().split('\n').map((l) => l.split(','));
    assert.deepEqual(rows[0], ['run', 'instance', 'add', 'status', 'score']);
    assert.deepEqual(rows.slice(1).map((r) => [r[1], r[3], r[4]]), [
      ['base', 'ran', '105'],
      ['base', 'ran', '101'],
      ['add{add=3}', 'ran', '8'],
      ['add{add=2}', 'ran', '7'],
      ['add{add=2}', 'ran', '3'],
      ['add{add=1}', 'ran', '2'],
    ]);
    const latest = await cli(rig.dir, ['results', 'p.yaml', '--runs', 'latest', '--where', 'add=3', '--format', 'csv']);
    assert.match(latest.stdout, /^run,instance,add,status,score\n[^,]+,add\{add=3\},3,ran,8\n$/);
    // Several runs after one --runs; a positional that is not a file is a run name there.
    const two = await cli(rig.dir, ['results', '--runs', 'latest~1', 'latest', '--where', 'instance=base', '--format', 'csv', '--sort', 'score']);
    assert.deepEqual(two.stdout.trim().split('\n').map((l) => l.split(',').at(-1)), ['score', '101', '105']);
    const bad = await cli(rig.dir, ['results', '--runs', 'latest~5']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /there is no run 'latest~5': 2 run records found/);
  });

  it('diff names the settings that differ and every metric with its delta', async () => {
    const md = await cli(rig.dir, ['diff', 'latest~1', 'latest']);
    assert.equal(md.code, 0, md.stderr);
    assert.match(md.stdout, /\| {2}\| overrides \| {2}\| grid\.add=\[2,3\] params\.start=5 \|/);
    assert.match(md.stdout, /\| {2}\| params\.start \| 1 \| 5 \|/);
    assert.match(md.stdout, /\| {2}\| grid\.add \| \[1,2\] \| \[2,3\] \|/);
    assert.match(md.stdout, /\| src \| with\.value \| 1 \| 5 \|/);
    assert.match(md.stdout, /\| {2}\| instances only in one run \| add\{add=1\} \| add\{add=3\} \|/);
    assert.match(md.stdout, /\| base \| score \| 101 \| 105 \| 4 \|/);
    assert.match(md.stdout, /\| add\{add=2\} \| score \| 3 \| 7 \| 4 \|/);
    assert.match(md.stdout, /\| add\{add=1\} \| score \| 2 \| {2}\| {2}\|/);
    const csv = await cli(rig.dir, ['diff', 'latest~1', 'latest', '--format', 'csv', '--where', 'section=metric', '--sort', 'b:desc']);
    assert.equal(
      csv.stdout,
      'section,instance,name,a,b,delta\nmetric,base,score,101,105,4\nmetric,add{add=3},score,,8,\nmetric,add{add=2},score,3,7,4\nmetric,add{add=1},score,2,,\n',
    );
    const json = JSON.parse((await cli(rig.dir, ['diff', 'latest~1', 'latest', '--format', 'json'])).stdout) as {b: {overrides: string[]}; rows: unknown[]};
    assert.deepEqual(json.b.overrides, ['grid.add=[2,3]', 'params.start=5']);
    assert.ok(json.rows.length >= 8);
    const one = await cli(rig.dir, ['diff', 'latest']);
    assert.equal(one.code, 2);
    assert.match(one.stderr, /expected two runs/);
  });
});

describe('selecting runs', () => {
  const run = (runId: string): RunSummary => ({pipeline: 'p', file: '/p.yaml', runId, startedAt: '', finishedAt: '', status: 'ok', nodes: []});
  const runs = [run('2026-01-01T00-00-00-000Z-aaaa'), run('2026-01-02T00-00-00-000Z-bbbb'), run('2026-01-02T00-00-00-000Z-bbcc')];
  it('by id, unique prefix, latest and latest~N; ambiguous or unknown names are messages', () => {
    const ids = (specs: string[]): string[] | string => {
      const s = selectRuns(runs, specs);
      return s.ok ? s.value.map((r) => r.runId.slice(-4)) : s.error;
    };
    assert.deepEqual(ids(['latest', 'latest~2']), ['bbcc', 'aaaa']);
    assert.deepEqual(ids(['2026-01-01']), ['aaaa']);
    assert.deepEqual(ids(['all']), ['aaaa', 'bbbb', 'bbcc']);
    assert.match(String(ids(['2026-01-02'])), /matches 2 runs/);
    assert.match(String(ids(['2027'])), /no run record '2027'/);
  });
});
