/** The analyzer: grid expansion, instance ids, wiring, keys and their stability properties, overrides, seeds. */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {cp, mkdir} from 'node:fs/promises';
import path from 'node:path';
import {AnalyzeRig, keysOf} from './analyze-rig.js';
import {loadNodeType} from '../runner/registry.js';

/** The paper pipeline, on toy types: shared upstream, repeats, a two-variable grid. */
const PAPER = `name: paper
imports: [./toy.ts]
params: {ipc: 10}
grid: {alpha: [0.3, 0.7], T: [0.5, 1, 3]}
nodes:
  data:    {type: source, with: {count: 5}}
  expert:  {type: scale, repeat: 3, in: {numbers: data}, with: {factor: 2}}
  teacher: {type: scale, in: {numbers: data}}
  distill: {type: scale, in: {numbers: teacher}, with: {factor: "\${grid.alpha}"}}
  student: {type: scale, in: {numbers: distill}, with: {factor: "\${grid.T}", mode: add}}
  eval:    {type: sum, in: {parts: "expert[*]"}}
  final:   {type: sum, in: {parts: [student, "expert[1]"]}}
`;

/** The same pipeline with keys reordered, block style, comments and different quoting. */
const PAPER_REFORMATTED = `# reformatted
nodes:
  student:
    with:
      mode: 'add'
      factor: '\${grid.T}'
    in: {numbers: distill}
    type: scale
  final:
    in:
      parts:
        - student
        - expert[1]
    type: sum
  eval: {in: {parts: 'expert[*]'}, type: sum}
  distill: {with: {factor: "\${grid.alpha}"}, type: scale, in: {numbers: teacher}}
  teacher:
    type: scale
    in:
      numbers: data
  expert: {in: {numbers: data}, repeat: 3, type: scale, with: {factor: 2.0}}
  data: {with: {count: 5}, type: source}
grid:
  T: [0.5, 1.0, 3]
  alpha: [0.3, 0.7]
params: {ipc: 10}
imports:
  - ./toy.ts
name: paper
`;

describe('expansion', () => {
  test('shared upstream is planned once; grid nodes once per combination of the variables they use', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plan = await rig.plan('p.yaml');
    const ids = [...plan.nodes.keys()].sort();
    assert.deepEqual(ids.filter((id) => id.startsWith('data') || id.startsWith('teacher') || id.startsWith('eval')), ['data', 'eval', 'teacher']);
    assert.deepEqual(ids.filter((id) => id.startsWith('expert')), ['expert[0]', 'expert[1]', 'expert[2]']);
    assert.deepEqual(ids.filter((id) => id.startsWith('distill')), ['distill{alpha=0.3}', 'distill{alpha=0.7}']);
    assert.equal(ids.filter((id) => id.startsWith('student')).length, 6);
    assert.ok(plan.nodes.has('student{T=0.5,alpha=0.3}'));
    assert.ok(plan.nodes.has('final{T=3,alpha=0.7}'));
    assert.equal(plan.nodes.size, 1 + 3 + 1 + 2 + 6 + 1 + 6);
    assert.equal(plan.name, 'paper');
  });

  test('inputs name the matching upstream instances; many ports list them in order', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plan = await rig.plan('p.yaml');
    const student = plan.nodes.get('student{T=1,alpha=0.7}');
    assert.deepEqual(student?.inputs, [{port: 'numbers', from: ['distill{alpha=0.7}'], fromPort: ['numbers'], many: false}]);
    assert.deepEqual(student?.params, {factor: 1, mode: 'add'});
    assert.deepEqual(student?.grid, {T: 1, alpha: 0.7});
    assert.deepEqual(plan.nodes.get('eval')?.inputs[0]?.from, ['expert[0]', 'expert[1]', 'expert[2]']);
    assert.deepEqual(plan.nodes.get('final{T=1,alpha=0.7}')?.inputs[0]?.from, ['student{T=1,alpha=0.7}', 'expert[1]']);
    assert.equal(plan.nodes.get('expert[2]')?.module, path.join(rig.dir, 'toy.ts'));
  });

  test('order is topological and deterministic; dependents and variants are consistent', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plan = await rig.plan('p.yaml');
    const position = new Map(plan.order.map((id, i) => [id, i]));
    assert.equal(plan.order.length, plan.nodes.size);
    for (const node of plan.nodes.values()) {
      for (const input of node.inputs) for (const from of input.from) assert.ok((position.get(from) ?? -1) < (position.get(node.id) ?? -1));
    }
    assert.deepEqual(plan.dependents.get('data'), ['expert[0]', 'expert[1]', 'expert[2]', 'teacher']);
    assert.deepEqual((await rig.plan('p.yaml')).order, plan.order);
    assert.equal(plan.variants.length, 6);
    const variant = plan.variants.find((v) => v.grid['T'] === 3 && v.grid['alpha'] === 0.3);
    // With a grid, a variant's results are its own grid-specific terminal instances (shared ones say nothing about it).
    assert.deepEqual([...(variant?.terminals ?? [])].sort(), ['final{T=3,alpha=0.3}']);
    assert.ok(variant?.nodes.includes('data'));
    assert.ok(variant?.nodes.includes('distill{alpha=0.3}'));
    assert.ok(!variant?.nodes.includes('distill{alpha=0.7}'));
    assert.equal(variant?.nodes.length, 1 + 3 + 1 + 1 + 1 + 1 + 1);
  });

  test('an exact ${...} keeps the value type; inside a longer string it interpolates; params may use params and grid', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('toy2.mjs', `export default [{type: 'echo', outputs: {out: {kind: 'X'}}, run() {}}];\n`);
    await rig.write('p.yaml', `imports: [./toy2.mjs]
params: {n: 3, label: "run-\${grid.g}", both: "\${params.label}/\${params.n}"}
grid: {g: [a, 2]}
nodes:
  e: {type: echo, with: {n: "\${params.n}", list: ["\${params.n}", "x\${params.n}"], both: "\${params.both}"}}
`);
    const plan = await rig.plan('p.yaml');
    assert.deepEqual([...plan.nodes.keys()].sort(), ['e{g="a"}', 'e{g=2}']);
    assert.deepEqual(plan.nodes.get('e{g="a"}')?.params, {n: 3, list: [3, 'x3'], both: 'run-a/3'});
    assert.deepEqual(plan.nodes.get('e{g=2}')?.params, {n: 3, list: [3, 'x3'], both: 'run-2/3'});
  });
});

describe('keys', () => {
  test('reordering YAML keys, reformatting and requoting keep every key', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('a.yaml', PAPER);
    await rig.write('b.yaml', PAPER_REFORMATTED);
    assert.deepEqual(keysOf(await rig.plan('b.yaml')), keysOf(await rig.plan('a.yaml')));
  });

  test('changing a value changes that node and everything downstream, nothing else', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const before = keysOf(await rig.plan('p.yaml'));
    const after = keysOf(await rig.plan('p.yaml', ['nodes.teacher.with.factor=3']));
    const changed = [...before].filter(([id, key]) => after.get(id) !== key).map(([id]) => id.replace(/\{.*\}$/, '')).sort();
    assert.deepEqual([...new Set(changed)], ['distill', 'final', 'student', 'teacher']);
    const expertChanged = keysOf(await rig.plan('p.yaml', ['nodes.expert.with.factor=5']));
    const changedIds = [...before].filter(([id, key]) => expertChanged.get(id) !== key).map(([id]) => id.replace(/\{.*\}$/, ''));
    assert.deepEqual([...new Set(changedIds)].sort(), ['eval', 'expert[0]', 'expert[1]', 'expert[2]', 'final']);
  });

  test('a default written out equals the default left out; the environment is part of the key', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plain = keysOf(await rig.plan('p.yaml'));
    assert.deepEqual(keysOf(await rig.plan('p.yaml', ['nodes.teacher.with.factor=1', 'nodes.teacher.with.mode=mul'])), plain);
    const wasm = await rig.write('w.yaml', PAPER);
    const other = await import('../runner/analyze-pipeline.js').then((m) => m.analyzePipeline(wasm, {cwd: rig.dir, env: {DISTILLERY_BACKEND: 'wasm'}}));
    assert.ok(other.ok);
    assert.notEqual(other.value.nodes.get('data')?.key, plain.get('data'));
    assert.deepEqual(other.value.nodes.get('data')?.keyParts.environment, {backend: 'wasm', tfjs: other.value.nodes.get('data')?.keyParts.environment['tfjs']});
  });

  test('repeat instances get distinct seeds; seeds and keys do not depend on the file path; seed: draws new ones', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plan = await rig.plan('p.yaml');
    const seeds = [0, 1, 2].map((i) => plan.nodes.get(`expert[${i}]`)?.seed);
    assert.equal(new Set(seeds).size, 3);
    for (const s of seeds) assert.ok(Number.isInteger(s) && (s ?? -1) >= 0 && (s ?? 0) < 2 ** 32);
    await mkdir(path.join(rig.dir, 'elsewhere'));
    await cp(path.join(rig.dir, 'p.yaml'), path.join(rig.dir, 'elsewhere', 'renamed.yaml'));
    await cp(path.join(rig.dir, 'toy.ts'), path.join(rig.dir, 'elsewhere', 'toy.ts'));
    assert.deepEqual(keysOf(await rig.plan('elsewhere/renamed.yaml')), keysOf(plan));
    const reseeded = await rig.plan('p.yaml', ['nodes.expert.seed=7']);
    assert.notEqual(reseeded.nodes.get('expert[0]')?.seed, plan.nodes.get('expert[0]')?.seed);
    assert.equal(reseeded.nodes.get('teacher')?.key, plan.nodes.get('teacher')?.key);
  });

  test('key parts record the Merkle inputs and the implementation', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plan = await rig.plan('p.yaml');
    const teacher = plan.nodes.get('teacher');
    assert.deepEqual(teacher?.keyParts.inputs, {numbers: [`${plan.nodes.get('data')?.key}:numbers`]});
    assert.match(teacher?.key ?? '', /^[0-9a-f]{16}$/);
    assert.match(teacher?.keyParts.implementation ?? '', /^[0-9a-f]{16}$/);
  });
});

describe('overrides', () => {
  test('--set narrows the grid, changes params and params by path; values are YAML', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const plan = await rig.plan('p.yaml', ['grid.alpha=[0.3]', 'nodes.expert.repeat=2', 'params.ipc=1', 'nodes.data.with.count=7']);
    assert.equal(plan.variants.length, 3);
    assert.deepEqual([...plan.nodes.keys()].filter((id) => id.startsWith('expert')).sort(), ['expert[0]', 'expert[1]']);
    assert.equal(plan.nodes.get('data')?.params['count'], 7);
  });
});

describe('node types', () => {
  test('loadNodeType reloads a type from PlannedNode.module, and names what is missing', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PAPER);
    const node = (await rig.plan('p.yaml')).nodes.get('eval');
    const definition = await loadNodeType(node?.module ?? '', node?.type ?? '');
    assert.equal(definition.type, 'sum');
    await assert.rejects(loadNodeType(node?.module ?? '', 'nope'), /no longer defines node type "nope"/);
  });
});
