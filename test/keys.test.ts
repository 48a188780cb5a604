/** Canonical JSON, keys, seeds and did-you-mean. */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {canonicalJson} from '../runner/canonical-json.js';
import {canonicalText, computeKey, getHasher, instanceSeed, keyOfTexts} from '../runner/keys.js';
import {didYouMean, editDistance} from '../runner/did-you-mean.js';
import {instanceId} from '../runner/instance-id.js';
import type {KeyParts} from '../runner/plan.js';

function canonical(value: unknown): string {
  const result = canonicalJson(value);
  assert.ok(result.ok, 'expected canonical JSON');
  return result.value;
}

describe('canonical JSON', () => {
  test('sorts keys at every depth and drops undefined members', () => {
    assert.equal(canonical({b: 1, a: {d: [1, {z: 1, y: 2}], c: undefined}}), '{"a":{"d":[1,{"y":2,"z":1}]},"b":1}');
  });

  test('normalises numbers: -0 is 0, integers have no exponent, 1.0 is 1', () => {
    assert.equal(canonical([-0, 1e21, 1.0, 0.1, -2.5e-7, 2 ** 53]), '[0,1000000000000000000000,1,0.1,-2.5e-7,9007199254740992]');
  });

  test('rejects NaN, infinities, undefined in lists and non-plain objects, saying where', () => {
    assert.deepEqual(canonicalJson({a: [1, NaN]}), {ok: false, error: {path: ['a', 1], reason: 'not-finite'}});
    assert.deepEqual(canonicalJson({a: Infinity}), {ok: false, error: {path: ['a'], reason: 'not-finite'}});
    assert.deepEqual(canonicalJson([undefined]), {ok: false, error: {path: [0], reason: 'undefined-in-array'}});
    assert.deepEqual(canonicalJson({d: new Date(0)}), {ok: false, error: {path: ['d'], reason: 'unsupported-type'}});
    assert.deepEqual(canonicalJson(10n), {ok: false, error: {path: [], reason: 'unsupported-type'}});
  });

  test('an own __proto__ key is an ordinary key', () => {
    const value = JSON.parse('{"__proto__": {"x": 1}, "a": 2}') as unknown;
    assert.equal(canonical(value), '{"__proto__":{"x":1},"a":2}');
    assert.equal(canonical(Object.create(null)), '{}');
  });
});

describe('keys and seeds', () => {
  test('fixed key parts, seeds and ids give the values every earlier version gave (a faster writer changes no key)', async () => {
    const hasher = await getHasher();
    const parts = {
      type: 'distillJoint',
      implementation: '2+0f3a9c',
      params: {alpha: 0.3, T: 1, lr: 1e-5, big: 1e21, neg: -0, s: 'x"\u00e9\n', list: [1, 2.5, {b: true, a: null}], nested: {z: [], y: {}}},
      seed: 4294967295,
      inputs: {data: ['aaaa:out'], experts: ['b:x', 'c:y']},
      environment: {backend: 'wasm', tfjs: '4.22.0'},
    } as unknown as KeyParts;
    assert.equal(computeKey(hasher, parts), 'ad38c97f25e7f062');
    const texts = {
      environment: canonicalText(parts.environment),
      implementation: parts.implementation,
      inputs: canonicalText(parts.inputs),
      params: canonicalText(parts.params),
      seed: parts.seed,
      type: parts.type,
    };
    assert.equal(keyOfTexts(hasher, texts), 'ad38c97f25e7f062', 'the planner\'s key from shared texts is the same key');
    assert.equal(instanceSeed(hasher, 'expert', 2, undefined), 2680849327);
    assert.equal(instanceSeed(hasher, 'expert', 0, 7), 1617800843);
    assert.equal(instanceId('eval', 1, {alpha: 0.3, T: 1, opt: 'adam', arr: [1, 'a']}), 'eval[1]{T=1,alpha=0.3,arr=[1,"a"],opt="adam"}');
  });

  const parts: KeyParts = {
    type: 't',
    implementation: 'i',
    params: {b: 1, a: 2},
    seed: 3,
    inputs: {x: ['k:out']},
    environment: {backend: 'cpu', tfjs: '4.22.0'},
  };

  test('a key is 16 hex digits, independent of member order, sensitive to every part', async () => {
    const hasher = await getHasher();
    const key = computeKey(hasher, parts);
    assert.match(key, /^[0-9a-f]{16}$/);
    assert.equal(computeKey(hasher, {...parts, params: {a: 2, b: 1}}), key);
    for (const changed of [
      {...parts, type: 'u'},
      {...parts, implementation: 'j'},
      {...parts, params: {a: 2, b: 1.5}},
      {...parts, seed: 4},
      {...parts, inputs: {x: ['k2:out']}},
      {...parts, environment: {backend: 'wasm', tfjs: '4.22.0'}},
    ]) {
      assert.notEqual(computeKey(hasher, changed), key);
    }
  });

  test('hashBytes pads to 16 hex digits and agrees with hashString on the same bytes', async () => {
    const hasher = await getHasher();
    assert.equal(hasher.hashBytes(new TextEncoder().encode('abc')), hasher.hashString('abc'));
    assert.match(hasher.hashBytes(new Uint8Array([])), /^[0-9a-f]{16}$/);
  });

  test('seeds are distinct per index and changed by the seed field', async () => {
    const hasher = await getHasher();
    const seeds = new Set(Array.from({length: 50}, (_, i) => instanceSeed(hasher, 'expert', i, undefined)));
    assert.equal(seeds.size, 50);
    assert.equal(instanceSeed(hasher, 'expert', 0, undefined), instanceSeed(hasher, 'expert', 0, undefined));
    assert.notEqual(instanceSeed(hasher, 'expert', 0, 1), instanceSeed(hasher, 'expert', 0, undefined));
  });
});

describe('names', () => {
  test('instance ids sort grid keys and write values as canonical JSON', () => {
    assert.equal(instanceId('a', undefined, {}), 'a');
    assert.equal(instanceId('a', 2, {}), 'a[2]');
    assert.equal(instanceId('a', undefined, {b: 'x', A: 1.0}), 'a{A=1,b="x"}');
    assert.equal(instanceId('a', 0, {T: 3}), 'a[0]{T=3}');
  });

  test('did-you-mean finds typos (transpositions included) and stays quiet otherwise', () => {
    assert.equal(editDistance('wiht', 'with'), 1);
    assert.equal(editDistance('kitten', 'sitting'), 3);
    assert.equal(didYouMean('trainExpret', ['trainExpert', 'trainTeacher']), 'trainExpert');
    assert.equal(didYouMean('loadcifar', ['loadCIFAR']), 'loadCIFAR');
    assert.equal(didYouMean('zzz', ['with', 'type']), undefined);
  });
});

describe('implementation hashes follow relative imports', () => {
  test('editing a helper a node module imports changes that node key, and only its key', async () => {
    const {mkdtemp, writeFile, rm} = await import('node:fs/promises');
    const {tmpdir} = await import('node:os');
    const {join} = await import('node:path');
    const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
    const {moduleClosure} = await import('../runner/module-closure.js');
    const dir = await mkdtemp(join(tmpdir(), 'distillery-closure-'));
    try {
      await writeFile(join(dir, 'helper.mjs'), 'export const twice = (n) => 2 * n;\n');
      await writeFile(
        join(dir, 'nodes.mjs'),
        `import {twice} from './helper.mjs';
export default [
  {type: 'one', outputs: {out: {kind: 'N'}}, run: (ctx) => ctx.write('out', twice(1))},
  {type: 'other', outputs: {out: {kind: 'N'}}, run: async (ctx) => ctx.write('out', 3)},
];
`,
      );
      await writeFile(join(dir, 'other.mjs'), "export default [{type: 'alone', outputs: {out: {kind: 'N'}}, run: (ctx) => ctx.write('out', 1)}];\n");
      await writeFile(join(dir, 'p.yaml'), 'name: c\nimports: [./nodes.mjs, ./other.mjs]\nnodes:\n  a: {type: one}\n  b: {type: alone}\n');
      assert.deepEqual(moduleClosure(join(dir, 'nodes.mjs')), [join(dir, 'nodes.mjs'), join(dir, 'helper.mjs')]);
      const before = await analyzePipeline(join(dir, 'p.yaml'));
      await writeFile(join(dir, 'helper.mjs'), 'export const twice = (n) => n + n;\n');
      const after = await analyzePipeline(join(dir, 'p.yaml'));
      assert.ok(before.ok && after.ok);
      assert.notEqual(before.value.nodes.get('a')?.key, after.value.nodes.get('a')?.key);
      assert.equal(before.value.nodes.get('b')?.key, after.value.nodes.get('b')?.key);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });

  test('files a node declares are in its key; a pattern that matches nothing is a located error', async () => {
    const {mkdtemp, mkdir, writeFile, rm} = await import('node:fs/promises');
    const {tmpdir} = await import('node:os');
    const {join} = await import('node:path');
    const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
    const dir = await mkdtemp(join(tmpdir(), 'distillery-files-'));
    try {
      await mkdir(join(dir, 'tables'));
      await writeFile(join(dir, 'tables', 'a.json'), '[1]');
      await writeFile(join(dir, 'tables', 'b.json'), '[2]');
      // The node reads its data at run time through a computed path: no import says so, its files: does.
      await writeFile(
        join(dir, 'nodes.mjs'),
        `export default [
  {type: 'reads', files: ['./tables/*.json'], outputs: {out: {kind: 'N'}}, run: (ctx) => ctx.write('out', 1)},
  {type: 'plain', outputs: {out: {kind: 'N'}}, run: (ctx) => ctx.write('out', 2)},
];
`,
      );
      await writeFile(join(dir, 'p.yaml'), 'name: f\nimports: [./nodes.mjs]\nnodes:\n  a: {type: reads}\n  b: {type: plain}\n');
      const keys = async (): Promise<[string | undefined, string | undefined]> => {
        const plan = await analyzePipeline(join(dir, 'p.yaml'), {cwd: dir, env: {DISTILLERY_BACKEND: 'cpu'}});
        assert.ok(plan.ok);
        return [plan.value.nodes.get('a')?.key, plan.value.nodes.get('b')?.key];
      };
      const before = await keys();
      await writeFile(join(dir, 'tables', 'b.json'), '[3]');
      const edited = await keys();
      assert.notEqual(edited[0], before[0]);
      assert.equal(edited[1], before[1]);
      await writeFile(join(dir, 'tables', 'c.json'), '[4]');
      assert.notEqual((await keys())[0], edited[0], 'a new matching file changes the key too');
      // A new module file: an ES module, once imported, stays as it was loaded.
      await writeFile(join(dir, 'typo.mjs'), "export default [{type: 'reads', files: ['./tabels/*.json'], outputs: {out: {kind: 'N'}}, run: () => {}}];\n");
      await writeFile(join(dir, 'p.yaml'), 'name: f\nimports: [./typo.mjs]\nnodes:\n  a: {type: reads}\n');
      const bad = await analyzePipeline(join(dir, 'p.yaml'), {cwd: dir, env: {DISTILLERY_BACKEND: 'cpu'}});
      assert.ok(!bad.ok);
      assert.match(bad.error[0]?.message ?? '', /^cannot use "\.\/typo\.mjs": node type "reads" declares files "\.\/tabels\/\*\.json", which matches no file/);
      assert.equal(bad.error[0]?.location.line, 2);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});

describe('keys are the same in every checkout', () => {
  test('the same pipeline planned from two directories and from a copied checkout (other user, home, temp dir) has the same keys', async () => {
    const {execFile} = await import('node:child_process');
    const {cp, mkdtemp, rm, symlink} = await import('node:fs/promises');
    const {tmpdir} = await import('node:os');
    const {join} = await import('node:path');
    const {fileURLToPath} = await import('node:url');
    const repo = fileURLToPath(new URL('..', import.meta.url));
    const tsx = import.meta.resolve('tsx');
    const plan = (cliRepo: string, cwd: string, file: string, env: Record<string, string>): Promise<Array<{id: string; key: string}>> =>
      new Promise((resolve, reject) => {
        execFile(
          process.execPath,
          ['--import', tsx, join(cliRepo, 'runner', 'cli-main.ts'), 'plan', file, '--json', '--no-remote'],
          {cwd, env: {...process.env, DISTILLERY_BACKEND: 'cpu', ...env}, maxBuffer: 1 << 24},
          (error, stdout, stderr) => {
            if (error !== null) reject(new Error(`${error.message}\n${stderr}`));
            else resolve((JSON.parse(stdout) as {nodes: Array<{id: string; key: string}>}).nodes.map((n) => ({id: n.id, key: n.key})));
          },
        );
      });
    const copy = await mkdtemp(join(tmpdir(), 'distillery-checkout-'));
    try {
      // A teammate's clone: the project's files at another path, sharing only the installed packages.
      for (const part of ['cache', 'ml', 'nodes', 'runner', 'pipelines', 'package.json']) {
        await cp(join(repo, part), join(copy, 'team', 'clone', part), {recursive: true});
      }
      const clone = join(copy, 'team', 'clone');
      await symlink(join(repo, 'node_modules'), join(clone, 'node_modules'));
      const other = {HOME: copy, USER: 'teammate', LOGNAME: 'teammate', TMPDIR: copy};
      const [fromRoot, fromSub, fromClone] = await Promise.all([
        plan(repo, repo, 'pipelines/quickstart.yaml', {}),
        plan(repo, join(repo, 'pipelines'), 'quickstart.yaml', {}),
        plan(clone, join(clone, 'runner'), '../pipelines/quickstart.yaml', other),
      ]);
      assert.ok(fromRoot.length > 10);
      assert.deepEqual(fromSub, fromRoot);
      assert.deepEqual(fromClone, fromRoot);
    } finally {
      await rm(copy, {recursive: true, force: true});
    }
  });
});
