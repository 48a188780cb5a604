/**
 * `distillery export`: a random-subset SyntheticSet computed by a real (tiny) run is exported as npz, png and
 * safetensors from the cache and read back (ml/io/npz.ts, and numpy when python3 has it); unknown instances,
 * non-SyntheticSet instances and instances not computed yet exit with code 2 and say why.
 */
import assert from 'node:assert/strict';
import {execFile, execFileSync} from 'node:child_process';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, before, test} from 'node:test';
import {encodeIdx} from '../ml/data/idx.js';
import {readSyntheticSetNpz} from '../ml/io/npz.js';
import {readSafetensors} from '../ml/io/safetensors.js';

const CLI = fileURLToPath(new URL('../runner/cli-main.ts', import.meta.url));
const TSX = import.meta.resolve('tsx');

let root: string;

/** Runs the CLI from sources in `root` and resolves to its exit code and output. */
function cli(args: readonly string[]): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolvePromise) => {
    execFile(process.execPath, ['--import', TSX, CLI, ...args], {cwd: root, env: {...process.env, DISTILLERY_BACKEND: 'cpu'}}, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
      resolvePromise({code, stdout, stderr});
    });
  });
}

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'distillery-export-'));
  const data = join(root, 'fmnist');
  await mkdir(data);
  for (const [prefix, n] of [['train', 30], ['t10k', 10]] as const) {
    const pixels = Uint8Array.from({length: n * 784}, (_, i) => (i * 31 + Math.floor(i / 784) * 17) % 256);
    const labels = Uint8Array.from({length: n}, (_, i) => i % 10);
    await writeFile(join(data, `${prefix}-images-idx3-ubyte`), encodeIdx([n, 28, 28], pixels));
    await writeFile(join(data, `${prefix}-labels-idx1-ubyte`), encodeIdx([n], labels));
  }
  await writeFile(
    join(root, 'tiny.yaml'),
    [
      'name: tiny',
      'params: {ipc: 2}',
      'nodes:',
      '  data: {type: loadFashionMNIST, with: {root: fmnist}}',
      '  random: {type: selectRandom, in: {data: data}, with: {ipc: "${params.ipc}", lr: 0.03}}',
      '',
    ].join('\n'),
  );
  const ran = await cli(['run', 'tiny.yaml', '--cache-dir', 'cache', '--jobs', '1']);
  assert.equal(ran.code, 0, ran.stdout + ran.stderr);
});

after(async () => {
  await rm(root, {recursive: true, force: true});
});

test('export npz: x float32 [N,C,H,W], y int64, lr, mean, std; the same values as the cached artifact', async () => {
  const done = await cli(['export', 'tiny.yaml', 'random', '--format', 'npz', '--out', 'out/random.npz', '--cache-dir', 'cache']);
  assert.equal(done.code, 0, done.stderr);
  assert.match(done.stdout, /20 images of 28x28x1/);
  const set = await readSyntheticSetNpz(join(root, 'out/random.npz'));
  assert.equal(set.n, 20);
  assert.equal(set.channels, 1);
  assert.equal(set.lr, Float32Array.of(0.03)[0]);
  assert.deepEqual(Array.from(set.y.slice(0, 4)), [0, 0, 1, 1]);

  const st = await cli(['export', 'tiny.yaml', 'random', '--format', 'safetensors', '--out', 'out/random.safetensors', '--cache-dir', 'cache']);
  assert.equal(st.code, 0, st.stderr);
  const stored = await readSafetensors(join(root, 'out/random.safetensors'));
  assert.deepEqual(Array.from(set.x), Array.from(stored.tensors.get('x')?.data as Float32Array), 'single channel: NCHW = NHWC');

  let numpy = true;
  try {
    execFileSync('python3', ['-c', 'import numpy'], {stdio: 'ignore'});
  } catch {
    numpy = false;
  }
  if (numpy) {
    const script = [
      'import numpy as np, sys',
      'z = np.load(sys.argv[1])',
      'print(z["x"].dtype, z["x"].shape, z["y"].dtype, z["y"].tolist()[:4], float(z["lr"]), z["mean"].shape)',
    ].join('\n');
    const printed = execFileSync('python3', ['-c', script, join(root, 'out/random.npz')], {encoding: 'utf8'});
    assert.match(printed, /^float32 \(20, 1, 28, 28\) int64 \[0, 0, 1, 1\] 0\.0299999\d* \(1,\)/);
  }
});

test('export png: a picture of the set', async () => {
  const done = await cli(['export', 'tiny.yaml', 'random', '--format', 'png', '--out', 'out/random.png', '--cache-dir', 'cache']);
  assert.equal(done.code, 0, done.stderr);
  const png = await readFile(join(root, 'out/random.png'));
  assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
});

test('export fails with exit code 2 and a reason: unknown instance, not a SyntheticSet, not computed', async () => {
  const unknown = await cli(['export', 'tiny.yaml', 'nope', '--out', 'x.npz', '--cache-dir', 'cache']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /no instance 'nope'.*random/);
  const wrongKind = await cli(['export', 'tiny.yaml', 'data', '--out', 'x.npz', '--cache-dir', 'cache']);
  assert.equal(wrongKind.code, 2);
  assert.match(wrongKind.stderr, /loadFashionMNIST node; it has no SyntheticSet output/);
  const missing = await cli(['export', 'tiny.yaml', 'random', '--set', 'params.ipc=1', '--out', 'x.npz', '--cache-dir', 'cache']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /not computed yet.*distillery run tiny.yaml/);
});
