/**
 * Mapping over repeats: a node whose input is `x[each]` runs once per instance of `x` (instance k reads instance k),
 * through chains, across the grid and paired over several inputs; misuse is a located error; results and reports
 * fold the instances of a repeated node into one row (mean, std, n). And pipelines/fmnist.yaml, rewritten from three
 * copies of its random-draw nodes to one map, keeps the key of every instance it did not mean to change.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {fileURLToPath} from 'node:url';
import {parseDocument} from 'yaml';
import {main} from '../runner/cli.js';
import {AnalyzeRig, keysOf} from './analyze-rig.js';
import {renderDiagnostics} from '../runner/diagnostic.js';
import {foldRepeats} from '../runner/fold-repeats.js';
import {resultTable} from '../runner/result-rows.js';
import type {ResultRow} from '../runner/result-rows.js';
import {renderTable} from '../runner/table.js';
import {buildRows} from '../nodes/report-table.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

async function withRig(body: (rig: AnalyzeRig) => Promise<void>): Promise<void> {
  await using rig = await AnalyzeRig.create();
  await body(rig);
}

/** A node type with two single inputs, to pair two maps (written beside the toy types in the rig). */
const PAIR_MODULE = `export default [{
  type: 'pair',
  inputs: {a: {kind: 'Numbers'}, b: {kind: 'Numbers'}},
  outputs: {numbers: {kind: 'Numbers'}},
  run(ctx) { ctx.write('numbers', [...ctx.inputs.a, ...ctx.inputs.b]); },
}];
`;

describe('x[each]', () => {
  test('one instance per upstream instance, reading instance k; seeds and keys as repeat index k would have', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', `imports: [./toy.ts]
nodes:
  src: {type: source, repeat: 3}
  sc: {type: scale, in: {numbers: "src[each]"}, with: {factor: 2}}
  sc2: {type: scale, in: {numbers: "sc[each]"}}
  all: {type: sum, in: {parts: "sc2[*]"}}
  second: {type: scale, in: {numbers: "sc2[1]"}}
`);
      const plan = await rig.plan('p.yaml');
      assert.deepEqual([...plan.nodes.keys()].sort(), [
        'all', 'sc2[0]', 'sc2[1]', 'sc2[2]', 'sc[0]', 'sc[1]', 'sc[2]', 'second', 'src[0]', 'src[1]', 'src[2]',
      ]);
      for (const k of [0, 1, 2]) {
        assert.deepEqual(plan.nodes.get(`sc[${k}]`)?.inputs[0]?.from, [`src[${k}]`]);
        assert.deepEqual(plan.nodes.get(`sc2[${k}]`)?.inputs[0]?.from, [`sc[${k}]`], 'a map over a map pairs by index too');
      }
      assert.deepEqual(plan.nodes.get('all')?.inputs[0]?.from, ['sc2[0]', 'sc2[1]', 'sc2[2]']);
      assert.deepEqual(plan.nodes.get('second')?.inputs[0]?.from, ['sc2[1]']);
      const seeds = [0, 1, 2].map((k) => plan.nodes.get(`sc[${k}]`)?.seed);
      assert.equal(new Set(seeds).size, 3, 'each instance has its own seed');

      // The same instances written as copies: sc[0] is exactly an unrepeated `sc` on src[0] (key and seed), so turning
      // one node into a map computes nothing new for its first instance.
      await rig.write('q.yaml', `imports: [./toy.ts]
nodes:
  src: {type: source, repeat: 3}
  sc: {type: scale, in: {numbers: "src[0]"}, with: {factor: 2}}
  sc2: {type: scale, in: {numbers: sc}}
`);
      const copies = await rig.plan('q.yaml');
      assert.equal(plan.nodes.get('sc[0]')?.key, copies.nodes.get('sc')?.key);
      assert.equal(plan.nodes.get('sc2[0]')?.key, copies.nodes.get('sc2')?.key);
      assert.equal(plan.nodes.get('sc[0]')?.seed, copies.nodes.get('sc')?.seed);
    }));

  test('across the grid, a map keeps the grid variables; --set repeat=1 leaves one instance without an index', () =>
    withRig(async (rig) => {
      await rig.write('p.yaml', `imports: [./toy.ts]
grid: {f: [1, 2]}
nodes:
  src: {type: source, repeat: 2}
  sc: {type: scale, in: {numbers: "src[each]"}, with: {factor: "\${grid.f}"}}
  sc2: {type: scale, in: {numbers: "sc[each]"}}
  total: {type: sum, in: {parts: "sc2[*]"}}
`);
      const plan = await rig.plan('p.yaml');
      assert.deepEqual(plan.nodes.get('sc2[1]{f=2}')?.inputs[0]?.from, ['sc[1]{f=2}']);
      assert.deepEqual(plan.nodes.get('sc[1]{f=2}')?.inputs[0]?.from, ['src[1]']);
      assert.deepEqual(plan.nodes.get('total')?.inputs[0]?.from, ['sc2[0]{f=1}', 'sc2[1]{f=1}', 'sc2[0]{f=2}', 'sc2[1]{f=2}']);
      assert.deepEqual(plan.variants.map((v) => v.terminals), [['sc2[0]{f=1}', 'sc2[1]{f=1}'], ['sc2[0]{f=2}', 'sc2[1]{f=2}']]);

      const one = await rig.plan('p.yaml', ['nodes.src.repeat=1']);
      assert.deepEqual([...one.nodes.keys()].filter((id) => id.startsWith('sc')).sort(), ['sc2{f=1}', 'sc2{f=2}', 'sc{f=1}', 'sc{f=2}']);
      assert.deepEqual(one.nodes.get('sc2{f=1}')?.inputs[0]?.from, ['sc{f=1}']);
    }));

  test('several [each] inputs are paired by index; a shared single input goes to every instance', () =>
    withRig(async (rig) => {
      await rig.write('pair.mjs', PAIR_MODULE);
      await rig.write('p.yaml', `imports: [./toy.ts, ./pair.mjs]
nodes:
  a: {type: source, repeat: 3}
  b: {type: scale, in: {numbers: "a[each]"}}
  one: {type: source}
  zip: {type: pair, in: {a: "a[each]", b: "b[each]"}}
  withOne: {type: pair, in: {a: "a[each]", b: one}}
`);
      const plan = await rig.plan('p.yaml');
      for (const k of [0, 1, 2]) {
        assert.deepEqual(plan.nodes.get(`zip[${k}]`)?.inputs.map((i) => i.from), [[`a[${k}]`], [`b[${k}]`]]);
        assert.deepEqual(plan.nodes.get(`withOne[${k}]`)?.inputs.map((i) => i.from), [[`a[${k}]`], ['one']]);
      }
    }));

  test('misuse is a located error with a hint', () =>
    withRig(async (rig) => {
      await rig.write('pair.mjs', PAIR_MODULE);
      await rig.write('p.yaml', `imports: [./toy.ts, ./pair.mjs]
nodes:
  src: {type: source, repeat: 3}
  two: {type: source, repeat: 2}
  a: {type: scale, repeat: 2, in: {numbers: "src[each]"}}
  b: {type: sum, in: {parts: "src[each]"}}
  c: {type: sum, in: {parts: [two]}}
  d: {type: scale, in: {numbers: a}}
  e: {type: pair, in: {a: "src[each]", b: "two[each]"}}
  f: {type: scale, in: {numbers: "src[each"}}
`);
      assert.equal(renderDiagnostics(await rig.diagnostics('p.yaml'), {color: false}), `error: p.yaml:5:28 "a" maps over src[each], so it has one instance per instance of "src"; it cannot also have repeat:
      a: {type: scale, repeat: 2, in: {numbers: "src[each]"}}
                               ~
  hint: remove repeat: here (set the count on "src")

error: p.yaml:6:30 input "parts" of "b" (sum) takes a list of instances, but "src[each]" maps over them one at a time
      b: {type: sum, in: {parts: "src[each]"}}
                                 ~~~~~~~~~~~
  hint: write src[*] to give it all of them in one list

error: p.yaml:7:31 "two" has 2 instances; a list item names one of them or all of them
      c: {type: sum, in: {parts: [two]}}
                                  ~~~
  hint: write two[*] for all of them, or two[0] for one

error: p.yaml:8:34 input "numbers" of "d" (scale) takes one instance, but "a" has 3 (one per instance of "src")
      d: {type: scale, in: {numbers: a}}
                                     ~
  hint: pick one with a[0], run "d" once per instance with a[each], or feed a many port with a[*]

error: p.yaml:9:43 "two" has 2 instances but "src" has 3; [each] inputs are paired by index, so they need the same count
      e: {type: pair, in: {a: "src[each]", b: "two[each]"}}
                                              ~~~~~~~~~~~
  hint: pick one instance with two[0], or give both the same number of instances
  p.yaml:9:27 "e" maps over "src" here
        e: {type: pair, in: {a: "src[each]", b: "two[each]"}}
                                ~~~~~~~~~~~

error: p.yaml:10:34 "src[each" is not a node reference
      f: {type: scale, in: {numbers: "src[each"}}
                                     ~~~~~~~~~~
  hint: write node, node.port, node[*] (all instances), node[each] (one run per instance) or node[2] (one instance)

6 errors
`);
      const reasons = (await rig.diagnostics('p.yaml')).map((d) => d.reason);
      assert.deepEqual(reasons, ['bad-map', 'port-multiplicity', 'port-multiplicity', 'port-multiplicity', 'bad-map', 'bad-input-reference']);
    }));
});

describe('folding repeats', () => {
  const row = (id: string, node: string, accuracy: number | undefined, grid: Record<string, number> = {}): ResultRow => ({
    id,
    node,
    type: 'evaluate',
    grid,
    status: accuracy === undefined ? 'missing' : 'done',
    metrics: accuracy === undefined ? {} : {accuracy, accuracy_std: accuracy / 100},
  });

  test('results: one row per repeated node and grid variant, with mean, population std and n', () => {
    const rows = [
      row('eval{T=1}', 'eval', 70, {T: 1}),
      row('evalRandom[0]', 'evalRandom', 72),
      row('evalRandom[1]', 'evalRandom', 76),
      row('evalRandom[2]', 'evalRandom', 77),
      row('student[0]{T=1}', 'student', 60, {T: 1}),
      row('student[1]{T=1}', 'student', undefined, {T: 1}),
      row('student[0]{T=4}', 'student', 50, {T: 4}),
      row('student[1]{T=4}', 'student', 54, {T: 4}),
      row('evalTeacher', 'evalTeacher', 80),
    ];
    const folded = foldRepeats(rows);
    assert.deepEqual(folded.map((r) => [r.id, r.status, r.n, r.metrics['accuracy'], r.std?.['accuracy']]), [
      ['eval{T=1}', 'done', undefined, 70, undefined],
      ['evalRandom[*]', 'done', 3, 75, Math.sqrt(14 / 3)],
      ['student[*]{T=1}', 'done 1, missing 1', 1, 60, 0],
      ['student[*]{T=4}', 'done', 2, 52, 2],
      ['evalTeacher', 'done', undefined, 80, undefined],
    ]);
    assert.deepEqual(folded[1]?.instances, ['evalRandom[0]', 'evalRandom[1]', 'evalRandom[2]']);
    const {table} = resultTable(folded);
    assert.deepEqual(table.columns, ['instance', 'T', 'status', 'n', 'accuracy', 'std(accuracy)', 'accuracy_std', 'std(accuracy_std)']);
    assert.equal(
      renderTable(table, 'csv').split('\n')[2],
      'evalRandom[*],,done,3,75,2.16025,0.75,0.0216025',
    );
    // Rows of different runs never fold together.
    const twoRuns = foldRepeats([{...row('e[0]', 'e', 1), run: 'a'}, {...row('e[1]', 'e', 3), run: 'b'}]);
    assert.deepEqual(twoRuns.map((r) => r.id), ['e[0]', 'e[1]']);
  });

  test('report: the evaluations of a repeated node are one row; the random baseline is the mean over every draw', () => {
    const evaluation = (accuracy: number, trainedOn: Record<string, unknown>) => ({
      accuracy, accuracy_std: 0.5, accuracies: [accuracy - 0.5, accuracy + 0.5], provenance: {trainedOn},
    });
    const rows = buildRows(
      [
        evaluation(75.5, {source: 'distilled', ipc: 10, alpha: 0.3, T: 1}),
        evaluation(72, {source: 'random', ipc: 10}),
        evaluation(76, {source: 'random', ipc: 10}),
        evaluation(77, {source: 'random', ipc: 10}),
      ],
      [
        {id: 'eval{T=1,alpha=0.3}', type: 'evaluate', grid: {T: 1, alpha: 0.3}},
        {id: 'evalRandom[0]', type: 'evaluate', grid: {}},
        {id: 'evalRandom[1]', type: 'evaluate', grid: {}},
        {id: 'evalRandom[2]', type: 'evaluate', grid: {}},
      ],
    );
    assert.deepEqual(rows.map((r) => [r.id, r.n, r.accuracy]), [['eval{T=1,alpha=0.3}', 1, 75.5], ['evalRandom[*]', 3, 75]]);
    assert.ok(Math.abs((rows[1]?.std ?? 0) - Math.sqrt(14 / 3)) < 1e-12, 'std over the draws, not over one draw\'s seeds');
    assert.deepEqual(rows[1]?.members, [72, 76, 77]);
    assert.equal(rows[0]?.random, 75);
    assert.equal(rows[0]?.randomDraws, 3);
  });
});

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

/** `draw` writes a number from its seed; `score` records it doubled and whether it read the draw of its own index. */
const DRAW_MODULE = `import {writeFileSync} from 'node:fs';
const num = {kind: 'Num'};
const index = (id) => Number(/\\[(\\d+)\\]/.exec(id)?.[1] ?? -1);
export default [
  {type: 'draw', outputs: {out: num}, run(ctx) { ctx.write('out', ctx.seed % 100); }},
  {type: 'score', inputs: {a: num}, outputs: {out: num}, run(ctx) {
    ctx.metric('score', 2 * ctx.inputs.a);
    ctx.metric('paired', index(ctx.id) === index(ctx.upstream.a[0].id) ? 1 : 0);
    ctx.write('out', 2 * ctx.inputs.a);
  }},
  {type: 'page', inputs: {all: {kind: 'Num', many: true}}, outputs: {page: {kind: 'Report'}}, run(ctx) {
    writeFileSync(ctx.file('page', '.md'), ctx.inputs.all.join(', ') + '\\n');
  }},
];
`;

test('a run of a mapped node computes each instance from its own upstream; results fold them, --per-instance does not', () =>
  withRig(async (rig) => {
    await rig.write('draw.mjs', DRAW_MODULE);
    await rig.write('p.yaml', `imports: [./draw.mjs]
nodes:
  draw: {type: draw, repeat: 3}
  score: {type: score, in: {a: "draw[each]"}}
  page: {type: page, in: {all: "score[*]"}}
`);
    const ran = await cli(rig.dir, ['run', 'p.yaml', '--cache-dir', 'cache']);
    assert.equal(ran.code, 0, ran.stdout + ran.stderr);
    const each = JSON.parse((await cli(rig.dir, ['results', 'p.yaml', '--cache-dir', 'cache', '--per-instance', '--format', 'json'])).stdout) as ResultRow[];
    assert.deepEqual(each.map((r) => [r.id, r.status, r.metrics['paired']]), [
      ['score[0]', 'done', 1], ['score[1]', 'done', 1], ['score[2]', 'done', 1], ['page', 'done', undefined],
    ]);
    const scores = each.slice(0, 3).map((r) => r.metrics['score'] ?? Number.NaN);
    assert.equal(new Set(scores).size, 3, `three draws, three scores (${scores.join(', ')})`);
    const mean = (scores[0]! + scores[1]! + scores[2]!) / 3;
    const std = Math.sqrt(scores.reduce((a, v) => a + (v - mean) ** 2, 0) / 3);

    const folded = JSON.parse((await cli(rig.dir, ['results', 'p.yaml', '--cache-dir', 'cache', '--format', 'json'])).stdout) as ResultRow[];
    assert.deepEqual(folded.map((r) => r.id), ['score[*]', 'page']);
    assert.equal(folded[0]?.n, 3);
    assert.ok(Math.abs((folded[0]?.metrics['score'] ?? 0) - mean) < 1e-9 && Math.abs((folded[0]?.std?.['score'] ?? 0) - std) < 1e-9);
    const md = await cli(rig.dir, ['results', 'p.yaml', '--cache-dir', 'cache', '--sort', 'score:desc']);
    assert.equal(md.stdout.split('\n')[0], '| instance | status | n | paired | std(paired) | score | std(score) |');
    assert.match(md.stdout.split('\n')[2] ?? '', /^\| score\[\*\] \| done \| 3 \| 1 \| 0 \| [\d.]+ \| [\d.]+ \|$/);
    // Recorded runs fold alike.
    const recorded = await cli(rig.dir, ['results', '--runs', 'latest', '--format', 'csv', '--where', 'instance=score[*]']);
    assert.match(recorded.stdout.split('\n')[1] ?? '', /^[^,]+,score\[\*\],ran,3,1,0,[\d.]+,[\d.]+$/);
  }));

test('the example in docs/pipeline.md plans: three draws, each with its own student and evaluation', () =>
  withRig(async (rig) => {
    const docs = await readFile(join(REPO, 'docs', 'pipeline.md'), 'utf8');
    const section = docs.slice(docs.indexOf('## Mapping over repeats'));
    const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(yaml !== undefined, 'the section has a YAML example');
    await rig.write('example.yaml', yaml);
    const plan = await rig.plan('example.yaml');
    assert.deepEqual(plan.nodes.get('evalRandom[2]')?.inputs.map((i) => [i.port, i.from]), [['data', ['data']], ['model', ['studentRandom[2]']]]);
    assert.deepEqual(plan.nodes.get('report')?.inputs.find((i) => i.port === 'evals')?.from, ['evalRandom[0]', 'evalRandom[1]', 'evalRandom[2]']);
  }));

/** The nodes of fmnist.yaml that the map rewrote (the copies' counterparts are random2, random3 and theirs). */
const MAPPED = ['random', 'studentRandom', 'evalRandom', 'report'];

test('fmnist.yaml: the random draws as a map; no other key moves, and the first draw keeps its keys', () =>
  withRig(async (rig) => {
    const current = parseDocument(await readFile(join(REPO, 'pipelines', 'fmnist.yaml'), 'utf8'));
    const copies = parseDocument(await readFile(join(REPO, 'test', 'fixtures', 'fmnist-copies.yaml'), 'utf8'));
    // The file before the map, with everything the map did not touch taken from the current file: so that later changes
    // of sizes (params, other nodes) keep comparing the same thing.
    for (const key of ['params', 'grid']) copies.set(key, current.get(key));
    const currentNodes = current.toJS() as {nodes: Record<string, unknown>};
    for (const name of Object.keys(currentNodes.nodes)) {
      if (!MAPPED.includes(name)) copies.setIn(['nodes', name], current.getIn(['nodes', name]));
    }
    await rig.write('new.yaml', current.toString());
    await rig.write('old.yaml', copies.toString());
    const [before, after] = [keysOf(await rig.plan('old.yaml')), keysOf(await rig.plan('new.yaml'))];

    const shared = [...after.keys()].filter((id) => before.has(id));
    const moved = shared.filter((id) => before.get(id) !== after.get(id));
    assert.ok(shared.length >= 16, `most instances exist in both (${shared.length})`);
    assert.deepEqual(moved, ['report'], 'only the report, whose inputs are the draws, has a new key');
    const onlyBefore = [...before.keys()].filter((id) => !after.has(id)).sort();
    const onlyAfter = [...after.keys()].filter((id) => !before.has(id)).sort();
    assert.deepEqual(onlyBefore, ['evalRandom', 'evalRandom2', 'evalRandom3', 'random', 'random2', 'random3', 'studentRandom', 'studentRandom2', 'studentRandom3']);
    assert.deepEqual(onlyAfter, ['evalRandom[0]', 'evalRandom[1]', 'evalRandom[2]', 'random[0]', 'random[1]', 'random[2]', 'studentRandom[0]', 'studentRandom[1]', 'studentRandom[2]']);
    // Draw 0 is the old `random` (same seed: repeat index 0), so it and its student and evaluation stay cached; draws 1
    // and 2 have the seeds of repeat indices 1 and 2 of `random`, not those of the differently named copies.
    for (const name of ['random', 'studentRandom', 'evalRandom']) assert.equal(after.get(`${name}[0]`), before.get(name), name);
    const old = new Set(before.values());
    for (const id of ['random[1]', 'random[2]', 'studentRandom[1]', 'evalRandom[2]']) assert.ok(!old.has(after.get(id) ?? ''), id);
  }));

test('fmnist.yaml: results and the report fold the three draws into one row', () =>
  withRig(async (rig) => {
    await rig.write('fmnist.yaml', await readFile(join(REPO, 'pipelines', 'fmnist.yaml'), 'utf8'));
    const plan = await rig.plan('fmnist.yaml');
    const evals = plan.nodes.get('report')?.inputs.find((i) => i.port === 'evals')?.from ?? [];
    assert.deepEqual(evals.filter((id) => id.startsWith('evalRandom')), ['evalRandom[0]', 'evalRandom[1]', 'evalRandom[2]']);
    const {currentResults} = await import('../runner/result-rows.js');
    const rows = foldRepeats(await currentResults(plan, async () => undefined));
    assert.deepEqual(rows.filter((r) => r.node === 'evalRandom').map((r) => [r.id, r.status, r.instances]), [
      ['evalRandom[*]', 'missing', ['evalRandom[0]', 'evalRandom[1]', 'evalRandom[2]']],
    ]);
  }));
