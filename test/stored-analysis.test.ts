/**
 * Stored analyses: an unchanged pipeline's plan is read back instead of analyzed again, and any change to what the
 * analysis read (the file, `--set`, the environment, a node module or a file it declares, the analyzer) gives the
 * plan a full analysis would give. Each test marks the stored plan (a changed name) so a hit is visible.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdir, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {isDeepStrictEqual} from 'node:util';
import {analyzePipeline} from '../runner/analyze-pipeline.js';
import type {AnalyzeOptions} from '../runner/analyze-pipeline.js';
import type {Plan} from '../runner/plan.js';
import {fromStored, toStored} from '../runner/stored-plan.js';

const NODES = `export default [
  {type: 'src', params: {type: 'object', properties: {n: {type: 'number', default: 3}}}, outputs: {out: {kind: 'N'}}, run() {}},
  {type: 'step', files: ['./tables/*.json'], params: {type: 'object', properties: {a: {type: 'number'}}},
   inputs: {x: {kind: 'N'}}, outputs: {out: {kind: 'N'}}, run() {}},
  {type: 'sum', inputs: {parts: {kind: 'N', many: true}}, outputs: {out: {kind: 'N'}}, run() {}},
];
`;

const PIPELINE = `name: stored
imports: [./nodes.mjs]
grid: {a: [1, 2, 3]}
nodes:
  src: {type: src, repeat: 2}
  step: {type: step, in: {x: "src[1]"}, with: {a: "\${grid.a}"}}
  total: {type: sum, in: {parts: ["step[*]", "src[0]"]}}
  after: {type: step, in: {x: total}, with: {a: 1}}
`;

class Rig implements AsyncDisposable {
  private constructor(readonly dir: string) {}

  static async create(): Promise<Rig> {
    const dir = await mkdtemp(join(tmpdir(), 'distillery-stored-'));
    await mkdir(join(dir, 'tables'));
    await writeFile(join(dir, 'tables', 'a.json'), '[1]');
    await writeFile(join(dir, 'nodes.mjs'), NODES);
    await writeFile(join(dir, 'p.yaml'), PIPELINE);
    return new Rig(dir);
  }

  get store(): string {
    return join(this.dir, 'analysis');
  }

  async analyze(options: Omit<AnalyzeOptions, 'cwd'> = {}, cached = true): Promise<Plan> {
    const result = await analyzePipeline('p.yaml', {
      cwd: this.dir,
      env: {DISTILLERY_BACKEND: 'cpu'},
      ...(cached ? {cache: {dir: this.store}} : {}),
      ...options,
    });
    if (!result.ok) throw new Error(JSON.stringify(result.error.map((d) => d.message)));
    return result.value;
  }

  /** Renames the stored plan, so that a plan read back from the store shows it. */
  async mark(): Promise<void> {
    const [file] = await readdir(this.store);
    assert.ok(file !== undefined, 'an analysis was stored');
    const record = JSON.parse(await readFile(join(this.store, file), 'utf8')) as {plan: {name: string}};
    record.plan.name = 'from-the-store';
    await writeFile(join(this.store, file), JSON.stringify(record));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await rm(this.dir, {recursive: true, force: true});
  }
}

describe('stored analyses', () => {
  test('an unchanged pipeline is read back: the same plan as a full analysis, maps, key parts and all', async () => {
    await using rig = await Rig.create();
    const full = await rig.analyze({}, false);
    assert.deepEqual(await readdir(rig.dir).then((names) => names.includes('analysis')), false, 'no store unless asked');
    const first = await rig.analyze();
    assert.ok(isDeepStrictEqual(first, full));
    const again = await rig.analyze();
    assert.ok(isDeepStrictEqual(again, full), 'read back equal');
    await rig.mark();
    assert.equal((await rig.analyze()).name, 'from-the-store', 'and it really is read back');
  });

  test('a change to the file, --set, the environment, a node module or a file it declares is a full analysis', async () => {
    await using rig = await Rig.create();
    const base = await rig.analyze();
    const changes: Array<[string, () => Promise<Plan>, () => Promise<Plan>]> = [
      ['--set', () => rig.analyze({sets: ['grid.a=[1,2]']}), () => rig.analyze({sets: ['grid.a=[1,2]']}, false)],
      ['environment', () => rig.analyze({env: {DISTILLERY_BACKEND: 'wasm'}}), () => rig.analyze({env: {DISTILLERY_BACKEND: 'wasm'}}, false)],
      ['limits', () => rig.analyze({env: {DISTILLERY_BACKEND: 'cpu', DISTILLERY_MAX_INSTANCES: '500'}}), () => rig.analyze({}, false)],
    ];
    for (const [what, cached, full] of changes) {
      await rig.analyze();
      await rig.mark();
      const plan = await cached();
      assert.equal(plan.name, 'stored', `${what}: analyzed again`);
      assert.ok(isDeepStrictEqual(plan, await full()), what);
    }
    // The pipeline file itself.
    await rig.mark();
    await writeFile(join(rig.dir, 'p.yaml'), PIPELINE.replace('[1, 2, 3]', '[1, 2, 4]'));
    const edited = await rig.analyze();
    assert.equal(edited.name, 'stored');
    assert.ok(edited.nodes.has('step{a=4}'));
    // A declared data file: the step instances get new keys, as a full analysis gives them.
    await rig.mark();
    await writeFile(join(rig.dir, 'tables', 'a.json'), '[2]');
    const data = await rig.analyze();
    assert.equal(data.name, 'stored');
    assert.ok(isDeepStrictEqual(data, await rig.analyze({}, false)));
    assert.notEqual(data.nodes.get('step{a=1}')?.key, edited.nodes.get('step{a=1}')?.key);
    assert.equal(data.nodes.get('src[0]')?.key, edited.nodes.get('src[0]')?.key);
    // A new file matching a declared pattern.
    await rig.mark();
    await writeFile(join(rig.dir, 'tables', 'b.json'), '[3]');
    assert.equal((await rig.analyze()).name, 'stored');
    // The node module's source.
    await rig.mark();
    await writeFile(join(rig.dir, 'nodes.mjs'), NODES + '// edited\n');
    const code = await rig.analyze();
    assert.equal(code.name, 'stored');
    assert.notEqual(code.nodes.get('src[0]')?.key, base.nodes.get('src[0]')?.key);
  });

  test('the analyzer\'s own sources are stamped: a stamp that no longer holds is a full analysis', async () => {
    await using rig = await Rig.create();
    await rig.analyze();
    const [file] = await readdir(rig.store);
    const path = join(rig.store, file ?? '');
    const record = JSON.parse(await readFile(path, 'utf8')) as {analyzer: Array<[string, number, number]>; plan: {name: string}};
    assert.ok(record.analyzer.some(([source]) => source.endsWith('expand.ts')), 'the expansion code is stamped');
    const stamp = record.analyzer[0];
    assert.ok(stamp !== undefined);
    stamp[1] += 1;
    record.plan.name = 'from-the-store';
    await writeFile(path, JSON.stringify(record));
    assert.equal((await rig.analyze()).name, 'stored');
  });

  test('damaged or foreign records are ignored; plans with warnings and read-only use store nothing', async () => {
    await using rig = await Rig.create();
    await rig.analyze();
    const [file] = await readdir(rig.store);
    for (const text of ['', '{"format": 1', '{"format": 1, "inputs": "x"}', 'null', '[]']) {
      await writeFile(join(rig.store, file ?? ''), text);
      assert.equal((await rig.analyze()).name, 'stored', JSON.stringify(text));
    }
    await rm(rig.store, {recursive: true});
    await rig.analyze({cache: {dir: rig.store, write: false}});
    assert.equal(await readdir(rig.store).catch(() => 'none'), 'none', 'write: false stores nothing');
    await writeFile(join(rig.dir, 'p.yaml'), PIPELINE.replace('grid: {a: [1, 2, 3]}', 'grid: {a: [1, 2, 3], unused: [1]}'));
    const warned = await rig.analyze();
    assert.equal(warned.warnings?.length, 1);
    assert.equal(await readdir(rig.store).catch(() => 'none'), 'none', 'a plan with warnings is analyzed every time, so they are shown');
  });

  test('the shipped pipelines are stored and read back as the plans a full analysis gives', async () => {
    await using rig = await Rig.create();
    const repo = fileURLToPath(new URL('..', import.meta.url));
    for (const name of ['quickstart', 'fmnist', 'paper']) {
      const options = {cwd: repo, env: {DISTILLERY_BACKEND: 'cpu'}};
      const full = await analyzePipeline(join(repo, 'pipelines', `${name}.yaml`), options);
      await analyzePipeline(join(repo, 'pipelines', `${name}.yaml`), {...options, cache: {dir: rig.store}});
      const back = await analyzePipeline(join(repo, 'pipelines', `${name}.yaml`), {...options, cache: {dir: rig.store, write: false}});
      assert.ok(full.ok && back.ok);
      assert.ok(isDeepStrictEqual(back.value, full.value), name);
    }
    assert.equal((await readdir(rig.store)).length, 3);
  });

  test('the stored form reads back as the same plan, or is not made', async () => {
    await using rig = await Rig.create();
    const plan = await rig.analyze({}, false);
    const environment = plan.nodes.get('src[0]')?.keyParts.environment ?? {};
    const stored = toStored(plan, environment);
    assert.ok(stored !== undefined);
    assert.ok(isDeepStrictEqual(fromStored(JSON.parse(JSON.stringify(stored))), plan));
    // A plan the stored form cannot represent (two instances of one node with different resources) is not stored.
    const odd = new Map(plan.nodes);
    const step = odd.get('step{a=2}');
    assert.ok(step !== undefined);
    odd.set(step.id, {...step, resources: {gpu: 1}});
    assert.equal(toStored({...plan, nodes: odd}, environment), undefined);
    assert.equal(toStored(plan, {...environment, backend: 'other'}), undefined, 'nor one whose keys have another environment');
    const drifted = new Map(plan.nodes);
    drifted.set(step.id, {...step, keyParts: {...step.keyParts, inputs: {...step.keyParts.inputs, extra: ['0123456789abcdef:out']}}});
    assert.equal(toStored({...plan, nodes: drifted}, environment), undefined, 'nor one whose key parts its inputs do not give');
  });

  test('the analyzer packages\' versions are read where Node finds each package', async () => {
    const {createRequire} = await import('node:module');
    const {packageVersion} = await import('../runner/package-version.js');
    const dir = await mkdtemp(join(tmpdir(), 'distillery-package-version-'));
    try {
      const write = async (folder: string, manifest: unknown): Promise<void> => {
        await mkdir(join(dir, folder), {recursive: true});
        await writeFile(join(dir, folder, 'package.json'), typeof manifest === 'string' ? manifest : JSON.stringify(manifest));
      };
      await write('node_modules/outer', {name: 'outer', version: '1.0.0'});
      await write('app/node_modules/outer', {name: 'outer', version: '2.0.0'});
      await write('node_modules/renamed', {name: 'something-else', version: '1.0.0'});
      await write('node_modules/broken', '{');
      await write('node_modules/shadowed', {name: 'shadowed', version: '1.0.0'});
      await mkdir(join(dir, 'app/node_modules/shadowed'), {recursive: true});
      await write('node_modules/@scope/pkg', {name: '@scope/pkg', version: '3.1.4'});
      const from = createRequire(join(dir, 'app', 'src', 'module.js'));
      assert.equal(packageVersion('outer', from), '2.0.0', 'the nearest copy wins');
      assert.equal(packageVersion('outer', createRequire(join(dir, 'module.js'))), '1.0.0');
      assert.equal(packageVersion('@scope/pkg', from), '3.1.4');
      assert.equal(packageVersion('renamed', from), undefined, 'a package.json of another name');
      assert.equal(packageVersion('broken', from), undefined, 'an unreadable package.json');
      assert.equal(packageVersion('shadowed', from), undefined, 'a nearer folder without a package.json hides the farther one, as for Node');
      assert.equal(packageVersion('missing', from), undefined);
      // The analyzer's own packages: the versions of the packages Node resolves from the runner.
      const runner = createRequire(fileURLToPath(new URL('../runner/stored-analysis.ts', import.meta.url)));
      for (const name of ['yaml', 'ajv', 'xxhash-wasm', 'graphology', 'graphology-dag']) {
        const resolved = runner.resolve(name);
        const root = resolved.slice(0, resolved.lastIndexOf(`node_modules/${name}/`) + `node_modules/${name}`.length);
        const expected = (JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as {version: string}).version;
        assert.equal(packageVersion(name, runner), expected, name);
      }
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
