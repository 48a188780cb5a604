/**
 * The multi-threaded wasm backend (ml/wasm-threads.ts): the pool really starts with the asked-for thread count, a
 * training gradient is bit-identical on one and on several threads (so the count can stay out of node keys), a script
 * exits by itself with the pool running, and the runner shares the cores out among its CPU slots.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {forcedWasmThreads, wasmThreadCount} from '../ml/backend-probe.js';
import {workerEnvironment} from '../runner/worker-env.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** What the child reports. */
interface ChildReport {
  readonly threads: number;
  readonly note: string | null;
  /** sha256 of the gradient of a ConvNet's cross-entropy on a seeded batch. */
  readonly gradient: string;
}

/**
 * One training gradient on wasm in a fresh process with `DISTILLERY_WASM_THREADS=threads` (test/fixtures/
 * wasm-gradient.ts). The child never calls process.exit: if the pool kept the event loop alive it would hang, and
 * the timeout would fail the test.
 */
function gradientInChild(threads: number): Promise<ChildReport> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', TSX, 'test/fixtures/wasm-gradient.ts'],
      {
        cwd: REPO,
        env: {...process.env, DISTILLERY_BACKEND: 'wasm', DISTILLERY_WASM_THREADS: String(threads)},
        timeout: 120_000,
      },
      (error, stdout, stderr) => {
        if (error !== null) {
          reject(new Error(`child failed (${error.signal ?? error.code}): ${error.message}\n${stderr}`));
          return;
        }
        resolve(JSON.parse(stdout.trim().split('\n').pop() ?? '') as ChildReport);
      },
    );
  });
}

test('the threaded pool starts, exits cleanly, and computes the same gradient as one thread', async () => {
  const one = await gradientInChild(1);
  const two = await gradientInChild(2);
  const three = await gradientInChild(3);
  assert.deepEqual([one.threads, two.threads, three.threads], [1, 2, 3]);
  assert.equal(two.note, null);
  assert.match(one.gradient, /^[0-9a-f]{64}$/);
  assert.equal(two.gradient, one.gradient, 'two threads changed the numbers');
  assert.equal(three.gradient, one.gradient, 'three threads changed the numbers');
});

test('DISTILLERY_WASM_THREADS: a positive integer, else every core', () => {
  assert.equal(forcedWasmThreads({}), undefined);
  assert.equal(forcedWasmThreads({DISTILLERY_WASM_THREADS: ' 4 '}), 4);
  assert.ok(wasmThreadCount({}) >= 1);
  for (const bad of ['0', '-1', '1.5', 'two']) {
    assert.throws(() => forcedWasmThreads({DISTILLERY_WASM_THREADS: bad}), /DISTILLERY_WASM_THREADS=.* is not a positive integer/);
  }
});

test('workers share the cores out among the CPU slots unless the user chose a thread count', () => {
  assert.equal(workerEnvironment({}, 1, 8)['DISTILLERY_WASM_THREADS'], '8');
  assert.equal(workerEnvironment({}, 3, 8)['DISTILLERY_WASM_THREADS'], '2');
  assert.equal(workerEnvironment({}, 16, 8)['DISTILLERY_WASM_THREADS'], '1');
  assert.equal(workerEnvironment({DISTILLERY_WASM_THREADS: '5'}, 16, 8)['DISTILLERY_WASM_THREADS'], '5');
  const env = {HOME: '/h'};
  assert.equal(workerEnvironment(env, 2, 2)['HOME'], '/h');
  assert.deepEqual(env, {HOME: '/h'}, 'the caller environment is not modified');
});
