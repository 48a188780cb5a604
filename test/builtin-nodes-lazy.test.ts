/**
 * The built-in node types load TensorFlow.js only when an instance runs: importing `nodes/index.ts` (what the registry
 * does to learn their params, ports and resources) and analysing a pipeline that uses them must not load it, so
 * that `validate`, `plan` and a cached no-op `run` stay fast (design: "a cached no-op run loads no tfjs at all").
 *
 * Each check runs in a fresh child process, since this test process may have loaded tfjs already. tfjs-core sets
 * `globalThis._tfengine` when it is evaluated, and `@tensorflow/tfjs` is CommonJS under Node, so its files also show in
 * the CommonJS module cache; both are checked.
 */
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {basename} from 'node:path';
import {fileURLToPath} from 'node:url';
import {test} from 'node:test';
import builtins, {builtinModules} from '../nodes/index.js';
import {moduleClosure} from '../runner/module-closure.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** What a child reports after running `body`: whether tfjs-core was evaluated, and which tfjs files were loaded. */
interface TfjsLoaded {
  readonly engine: string;
  readonly files: string[];
  readonly result: unknown;
}

/** Runs `body` (ESM, top-level await; it sets `result`) in a child process with tsx, from the repository root. */
function inChild(body: string): Promise<TfjsLoaded> {
  const source = [
    "import {createRequire} from 'node:module';",
    'let result;',
    body,
    'const files = Object.keys(createRequire(import.meta.url).cache).filter((f) => f.includes("@tensorflow"));',
    'console.log(JSON.stringify({engine: typeof globalThis._tfengine, files, result}));',
  ].join('\n');
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', TSX, '--input-type=module', '-e', source],
      {cwd: REPO, env: {...process.env, DISTILLERY_BACKEND: 'cpu'}},
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Error(`child failed: ${error.message}\n${stderr}`));
          return;
        }
        const last = stdout.trim().split('\n').pop() ?? '';
        resolve(JSON.parse(last) as TfjsLoaded);
      },
    );
  });
}

test('the check sees tfjs when it is loaded', async () => {
  const loaded = await inChild("await import('./ml/data/dataset.ts');");
  assert.equal(loaded.engine, 'object');
  assert.ok(loaded.files.length > 0);
});

test('importing the built-in node types loads no tfjs', async () => {
  const loaded = await inChild(
    "const m = await import('./nodes/index.ts'); result = m.default.map((d) => d.type);",
  );
  assert.deepEqual(loaded.result, builtins.map((d) => d.type));
  assert.equal(loaded.engine, 'undefined', 'globalThis._tfengine is set: tfjs-core was loaded');
  assert.deepEqual(loaded.files, []);
});

test('analysing pipelines/quickstart.yaml loads no tfjs', async () => {
  const loaded = await inChild(
    [
      "const {analyzePipeline} = await import('./runner/analyze-pipeline.ts');",
      "const r = await analyzePipeline('pipelines/quickstart.yaml', {env: {...process.env, DISTILLERY_BACKEND: 'cpu'}});",
      'result = r.ok ? r.value.nodes.size : r.error.map((d) => d.message);',
    ].join('\n'),
  );
  assert.equal(typeof loaded.result, 'number', `analysis failed: ${JSON.stringify(loaded.result)}`);
  assert.ok((loaded.result as number) > 0);
  assert.equal(loaded.engine, 'undefined', 'globalThis._tfengine is set: tfjs-core was loaded');
  assert.deepEqual(loaded.files, []);
});

test("each built-in's implementation hash covers its run file", () => {
  for (const d of builtins) {
    const url = builtinModules[d.type];
    assert.ok(url !== undefined, `${d.type} has no module in builtinModules`);
    const closure = moduleClosure(fileURLToPath(url)).map((f) => basename(f));
    const stem = basename(fileURLToPath(url), '.js');
    assert.ok(closure.includes(`${stem}-run.ts`), `${d.type}: ${stem}-run.ts is not in its closure`);
  }
});
