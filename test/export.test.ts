/**
 * `distillery export`: a random-subset SyntheticSet computed by a real (tiny) run is exported as npz, png and
 * safetensors from the cache and read back (ml/io/npz.ts, and numpy when python3 has it); the trained networks of
 * the same run (students, the teacher, an expert's epoch) are exported as PyTorch state dicts, checked for names,
 * layouts and values, converted back bit for bit, and run through a plain NCHW forward pass over the state dict
 * (PyTorch's layer definitions, written here) that must give the network's logits; where /usr/bin/python3 has
 * torch, the docs' snippet loads them into the reference PyTorch networks, whose logits must match too. Unknown
 * instances, instances with nothing to export, instances not computed yet and bad picks exit with code 2 and say why.
 */
import assert from 'node:assert/strict';
import {execFile, execFileSync} from 'node:child_process';
import {copyFile, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, before, test} from 'node:test';
import {encodeIdx} from '../ml/data/idx.js';
import {readSyntheticSetNpz} from '../ml/io/npz.js';
import {readSafetensors} from '../ml/io/safetensors.js';
import type {ArchSpec} from '../nodes/model-spec.js';
import {convNetForward, resNet18Forward} from './util/nchw-forward.js';
import type {Nd} from './util/nchw-forward.js';

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
      // The quickstart's student (the docs' snippet builds exactly this ConvNet), a batch-norm one, a ResNet teacher
      // with batch norm, and an expert: every kind of network export writes.
      '  student: {type: trainStudentKD, in: {set: random}, with: {width: 16, depth: 3, epochs: 1, seeds: 2, batchSize: 10}}',
      '  studentBn: {type: trainStudentKD, in: {set: random}, with: {width: 4, depth: 2, norm: batch, epochs: 2, seeds: 1, batchSize: 4}}',
      '  teacher: {type: trainTeacher, in: {data: data}, with: {arch: resnet18, widthMultiplier: 0.0625, epochs: 1, batchSize: 10}}',
      '  expert: {type: trainExpert, in: {data: data}, with: {width: 4, depth: 2, epochs: 2, batchSize: 10}}',
      '  expertBn: {type: trainExpert, in: {data: data}, with: {width: 2, depth: 1, norm: batch, epochs: 1, batchSize: 10}}',
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
  assert.match(wrongKind.stderr, /loadFashionMNIST node; it has no synthetic set \(SyntheticSet\) or trained network/);
  const missing = await cli(['export', 'tiny.yaml', 'random', '--set', 'params.ipc=1', '--out', 'x.npz', '--cache-dir', 'cache']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /not computed yet.*distillery run tiny.yaml/);
});

/** The cached artifact of `instance`'s output `port` in the test run, and the instance's planned node. */
async function cached(instance: string, port: string): Promise<string> {
  const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
  const {LocalStore} = await import('../cache/local-store.js');
  const plan = await analyzePipeline(join(root, 'tiny.yaml'), {cwd: root, env: {DISTILLERY_BACKEND: 'cpu'}});
  assert.ok(plan.ok);
  const node = plan.value.nodes.get(instance) ?? assert.fail(instance);
  const store = await LocalStore.open(join(root, 'cache'));
  const found = await store.get(node.key, {touch: false});
  assert.equal(found.status, 'hit', instance);
  if (found.status !== 'hit') throw new Error('unreachable');
  const output = found.entry.manifest.outputs[port];
  assert.ok(output?.format === 'file');
  return join(found.entry.dir, output.file);
}

/** The tensors of a safetensors file as a state dict (float32 only), with its metadata. */
async function stateDict(file: string): Promise<{state: Map<string, Nd>; metadata: Readonly<Record<string, string>>}> {
  const {tensors, metadata} = await readSafetensors(file);
  const state = new Map<string, Nd>();
  for (const [name, t] of tensors) {
    assert.equal(t.dtype, 'F32', name);
    state.set(name, {shape: t.shape, data: t.data as Float32Array});
  }
  return {state, metadata};
}

/** Two images of the data's shape with values in about [-2, 2], NCHW, and the same as NHWC. */
function inputs(channels: number, size: number): {nchw: Nd; nhwc: Float32Array} {
  const n = 2;
  const nchw = new Float32Array(n * channels * size * size);
  for (let i = 0; i < nchw.length; i++) nchw[i] = 2 * Math.sin(i * 0.713 + 0.3) * Math.cos(i * 0.0171);
  const nhwc = new Float32Array(nchw.length);
  for (let b = 0; b < n; b++) {
    for (let c = 0; c < channels; c++) {
      for (let p = 0; p < size * size; p++) nhwc[(b * size * size + p) * channels + c] = nchw[(b * channels + c) * size * size + p] ?? 0;
    }
  }
  return {nchw: {shape: [n, channels, size, size], data: nchw}, nhwc};
}

/** The network's own logits (tfjs, evaluation mode) for NHWC `x`. */
async function networkLogits(arch: ArchSpec, params: Float32Array, buffers: Float32Array, x: Float32Array, size: number, channels: number): Promise<Float32Array> {
  const tf = await import('@tensorflow/tfjs-core');
  const {activateBackend} = await import('../ml/backend.js');
  const {buildArch} = await import('../nodes/build-arch.js');
  assert.equal(await activateBackend('cpu'), undefined);
  const model = buildArch(arch);
  const out = tf.tidy(() => model.forwardEval(tf.tensor1d(params), tf.tensor1d(buffers), tf.tensor4d(x, [x.length / (size * size * channels), size, size, channels])));
  const data = (await out.data()) as Float32Array;
  out.dispose();
  return data;
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, what: string): void {
  assert.equal(actual.length, expected.length, what);
  const scale = Math.max(1, ...Array.from(expected, Math.abs));
  let worst = 0;
  for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs((actual[i] ?? 0) - (expected[i] ?? 0)));
  assert.ok(worst <= 1e-4 * scale, `${what}: largest difference ${worst} (logits up to ${scale})`);
}

/** The exported networks of the test run: instance, what to pass, and where the test writes it. */
const NETWORKS = [
  {instance: 'student', args: ['--seed-index', '1'], file: 'out/student.safetensors'},
  {instance: 'studentBn', args: [], file: 'out/student-bn.safetensors'},
  {instance: 'teacher', args: [], file: 'out/teacher.safetensors'},
  {instance: 'expert', args: ['--epoch', '1'], file: 'out/expert.safetensors'},
] as const;

test('export of trained networks: PyTorch names and shapes, OIHW and [out, in] layouts, the cached values, back bit for bit', async () => {
  for (const n of NETWORKS) {
    const done = await cli(['export', 'tiny.yaml', n.instance, ...n.args, '--out', n.file, '--cache-dir', 'cache']);
    assert.equal(done.code, 0, done.stderr);
    assert.match(done.stdout, /PyTorch state dict of .*: \d+ tensors, \d+ values; mean\/std from (random|data)\)/);
  }
  const {readModelArtifact, readTrajectoryArtifact} = await import('../nodes/artifacts.js');
  const {buildArch} = await import('../nodes/build-arch.js');
  const {fromTorchStateDict} = await import('../ml/torch-layout.js');

  // The student of the quickstart's size: the names of the reference ConvNet, in order, with PyTorch's shapes.
  const student = await stateDict(join(root, 'out/student.safetensors'));
  assert.deepEqual(
    [...student.state].map(([name, t]) => `${name}:${t.shape.join('x')}`).sort(),
    [
      'classifier.bias:10', 'classifier.weight:10x256',
      'features.0.bias:16', 'features.0.weight:16x1x3x3', 'features.1.bias:16', 'features.1.weight:16',
      'features.4.bias:16', 'features.4.weight:16x16x3x3', 'features.5.bias:16', 'features.5.weight:16',
      'features.8.bias:16', 'features.8.weight:16x16x3x3', 'features.9.bias:16', 'features.9.weight:16',
    ],
  );
  assert.equal(student.metadata['format'], 'pt');
  assert.equal(student.metadata['weights'], 'seed 1 of 2');
  assert.deepEqual(JSON.parse(student.metadata['arch'] ?? ''), {kind: 'convnet', width: 16, depth: 3, norm: 'instance', channels: 1, imageSize: 28, classes: 10});
  assert.equal(JSON.parse(student.metadata['classNames'] ?? '[]').length, 10);
  // Element by element against the cached flat vector of seed 1 (conv0.weight is HWIO [3,3,1,16] at offset 0; fc.weight
  // [256,10] is the second to last tensor).
  const model = await readModelArtifact(await cached('student', 'model'));
  const flat = model.params[1] ?? assert.fail('seed 1');
  const conv = student.state.get('features.0.weight') ?? assert.fail('conv');
  for (const [o, i, h, w] of [[0, 0, 0, 0], [5, 0, 2, 1], [15, 0, 1, 2]] as const) {
    assert.equal(conv.data[((o * 1 + i) * 3 + h) * 3 + w], flat[((h * 3 + w) * 1 + i) * 16 + o], `conv [${o},${i},${h},${w}]`);
  }
  const fc = student.state.get('classifier.weight') ?? assert.fail('fc');
  const fcOffset = flat.length - 10 - 256 * 10;
  for (const [o, f] of [[0, 0], [3, 17], [9, 255]] as const) assert.equal(fc.data[o * 256 + f], flat[fcOffset + f * 10 + o], `fc [${o},${f}]`);
  assert.notDeepEqual(Array.from(flat.slice(0, 16)), Array.from(model.params[0]?.slice(0, 16) ?? []), 'seed 1 is not seed 0');

  // Every network converts back to exactly the cached vectors.
  for (const n of NETWORKS) {
    const {state, metadata} = await stateDict(join(root, n.file));
    const arch = JSON.parse(metadata['arch'] ?? '') as ArchSpec;
    const network = buildArch(arch);
    const naming = arch.kind === 'convnet' ? {kind: 'convnet' as const, norm: arch.norm} : {kind: 'resnet' as const};
    const back = fromTorchStateDict(naming, network, state);
    if (n.instance === 'expert') {
      const t = await readTrajectoryArtifact(await cached('expert', 'trajectory'));
      assert.deepEqual(back.params, t.snapshots[1], 'expert: epoch 1');
      assert.equal(back.buffers.length, 0);
    } else {
      const m = await readModelArtifact(await cached(n.instance, 'model'));
      const seed = n.instance === 'student' ? 1 : 0;
      assert.deepEqual(back.params, m.params[seed], `${n.instance}: params`);
      assert.deepEqual(back.buffers, m.buffers[seed], `${n.instance}: buffers`);
    }
  }
  const bn = await stateDict(join(root, 'out/student-bn.safetensors'));
  assert.deepEqual([...bn.state.keys()].filter((k) => k.startsWith('features.1.')).sort(), [
    'features.1.bias', 'features.1.running_mean', 'features.1.running_var', 'features.1.weight',
  ]);
  const teacher = await stateDict(join(root, 'out/teacher.safetensors'));
  assert.deepEqual(teacher.state.get('layer2.0.shortcut.0.weight')?.shape, [8, 4, 1, 1]);
  assert.deepEqual(teacher.state.get('linear.weight')?.shape, [10, 32]);
  assert.ok(teacher.state.has('layer4.1.bn2.running_var'));
});

test('the exported tensors compute what the network computes: a plain NCHW forward over the state dict gives its logits', async () => {
  for (const n of NETWORKS) {
    const {state, metadata} = await stateDict(join(root, n.file));
    const arch = JSON.parse(metadata['arch'] ?? '') as ArchSpec;
    const size = arch.kind === 'convnet' ? arch.imageSize : 28;
    const x = inputs(arch.channels, size);
    let params: Float32Array;
    let buffers: Float32Array = new Float32Array(0);
    if (n.instance === 'expert') {
      const {readTrajectoryArtifact} = await import('../nodes/artifacts.js');
      params = (await readTrajectoryArtifact(await cached('expert', 'trajectory'))).snapshots[1] ?? assert.fail('epoch 1');
    } else {
      const {readModelArtifact} = await import('../nodes/artifacts.js');
      const m = await readModelArtifact(await cached(n.instance, 'model'));
      const seed = n.instance === 'student' ? 1 : 0;
      params = m.params[seed] ?? assert.fail('seed');
      buffers = m.buffers[seed] ?? buffers;
    }
    const expected = await networkLogits(arch, params, buffers, x.nhwc, size, arch.channels);
    const actual = arch.kind === 'convnet' ? convNetForward(state, x.nchw, arch) : resNet18Forward(state, x.nchw);
    assertClose(actual.data, expected, n.instance);
  }
});

const PYTHON = '/usr/bin/python3';

/** Whether Debian's python3 can import torch (python3-torch); the PyTorch check runs only then. */
function hasTorch(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import torch, numpy'], {stdio: 'ignore'});
    return true;
  } catch {
    return false;
  }
}

test('PyTorch: the docs snippet loads the exported student into the reference ConvNet; its logits, the teacher\'s and the expert\'s match', {skip: hasTorch() ? false : `${PYTHON} cannot import torch (apt-get install python3-torch)`}, async () => {
  const docs = await readFile(fileURLToPath(new URL('../docs/pytorch.md', import.meta.url)), 'utf8');
  const snippet = /```python\n([\s\S]*?)```/.exec(docs)?.[1] ?? assert.fail('docs/pytorch.md has a python snippet');
  const work = join(root, 'py');
  await mkdir(work, {recursive: true});
  const expected: Record<string, number[]> = {};
  const shapes: Record<string, number[]> = {};
  for (const n of NETWORKS) {
    const {metadata} = await stateDict(join(root, n.file));
    const arch = JSON.parse(metadata['arch'] ?? '') as ArchSpec;
    const size = arch.kind === 'convnet' ? arch.imageSize : 28;
    const x = inputs(arch.channels, size);
    await writeFile(join(work, `${n.instance}.f32`), Buffer.from(x.nchw.data.buffer));
    shapes[n.instance] = [...x.nchw.shape];
    const {readModelArtifact, readTrajectoryArtifact} = await import('../nodes/artifacts.js');
    if (n.instance === 'expert') {
      const params = (await readTrajectoryArtifact(await cached('expert', 'trajectory'))).snapshots[1] ?? assert.fail('epoch 1');
      expected[n.instance] = Array.from(await networkLogits(arch, params, new Float32Array(0), x.nhwc, size, arch.channels));
    } else {
      const m = await readModelArtifact(await cached(n.instance, 'model'));
      const seed = n.instance === 'student' ? 1 : 0;
      expected[n.instance] = Array.from(await networkLogits(arch, m.params[seed] ?? assert.fail('seed'), m.buffers[seed] ?? new Float32Array(0), x.nhwc, size, arch.channels));
    }
  }
  await copyFile(join(root, 'out/student.safetensors'), join(work, 'student.safetensors'));
  // The snippet as printed (it loads student.safetensors into the ConvNet it builds), then: the snippet's own network
  // on the test input, and every exported file in the network its metadata describes.
  const check = [
    snippet,
    'import numpy as np',
    'from torch_models import build',
    `shapes = ${JSON.stringify(shapes)}`,
    'def logits(model, name):',
    "    x = torch.from_numpy(np.fromfile(name + '.f32', dtype='<f4').reshape(shapes[name]))",
    '    with torch.no_grad():',
    '        return model(x).flatten().tolist()',
    "out = {'snippet': logits(net, 'student')}",
    `for name, path in ${JSON.stringify(Object.fromEntries(NETWORKS.map((n) => [n.instance, join(root, n.file)])))}.items():`,
    '    tensors, meta = load_safetensors(path)',
    "    model = build(meta['arch'])",
    '    model.load_state_dict(tensors)',
    '    model.eval()',
    '    out[name] = logits(model, name)',
    'print(json.dumps(out))',
  ].join('\n');
  const printed = execFileSync(PYTHON, ['-c', check], {
    cwd: work,
    encoding: 'utf8',
    env: {...process.env, PYTHONPATH: fileURLToPath(new URL('../docs', import.meta.url))},
  });
  const lines = printed.trim().split('\n');
  assert.equal(lines.length, 2, printed);
  const classNames = JSON.parse((await stateDict(join(root, 'out/student.safetensors'))).metadata['classNames'] ?? '[]') as string[];
  const predicted = JSON.parse((lines[0] ?? '').replace(/'/g, '"')) as string[];
  assert.equal(predicted.length, 8, 'the snippet names a class for each of its 8 images');
  for (const p of predicted) assert.ok(classNames.includes(p), p);
  const torch = JSON.parse(lines[1] ?? '') as Record<string, number[]>;
  assertClose(torch['snippet'] ?? [], expected['student'] ?? [], 'the snippet\'s ConvNet');
  for (const n of NETWORKS) assertClose(torch[n.instance] ?? [], expected[n.instance] ?? [], `PyTorch ${n.instance}`);
});

test('export of a network: a seed or epoch out of range, npz, --epoch on a Model, --seed-index on a trajectory, a batch-norm expert exit with code 2', async () => {
  const seed = await cli(['export', 'tiny.yaml', 'student', '--seed-index', '2', '--out', 'x.safetensors', '--cache-dir', 'cache']);
  assert.equal(seed.code, 2);
  assert.match(seed.stderr, /'student' holds 2 seeds; --seed-index runs from 0 to 1/);
  const epoch = await cli(['export', 'tiny.yaml', 'expert', '--epoch', '3', '--out', 'x.safetensors', '--cache-dir', 'cache']);
  assert.equal(epoch.code, 2);
  assert.match(epoch.stderr, /'expert' has 2 epochs; --epoch runs from 0 \(the initialisation\) to 2/);
  const npz = await cli(['export', 'tiny.yaml', 'teacher', '--format', 'npz', '--out', 'x.npz', '--cache-dir', 'cache']);
  assert.equal(npz.code, 2);
  assert.match(npz.stderr, /'teacher' is a trained network \(Model\); it exports as safetensors only/);
  const onModel = await cli(['export', 'tiny.yaml', 'teacher', '--epoch', '1', '--out', 'x.safetensors', '--cache-dir', 'cache']);
  assert.match(onModel.stderr, /--epoch picks an epoch of an expert's trajectory; 'teacher'.model is a Model/);
  const onTrajectory = await cli(['export', 'tiny.yaml', 'expert', '--seed-index', '0', '--out', 'x.safetensors', '--cache-dir', 'cache']);
  assert.match(onTrajectory.stderr, /--seed-index picks a seed of a Model; 'expert'.trajectory is a Trajectories/);
  const bad = await cli(['export', 'tiny.yaml', 'student', '--seed-index', 'one', '--out', 'x.safetensors', '--cache-dir', 'cache']);
  assert.match(bad.stderr, /--seed-index must be an integer >= 0, got 'one'/);
  const batchExpert = await cli(['export', 'tiny.yaml', 'expertBn', '--out', 'x.safetensors', '--cache-dir', 'cache']);
  assert.equal(batchExpert.code, 2);
  assert.match(batchExpert.stderr, /'expertBn' is a batch-norm network's trajectory, which keeps no running statistics/);
});
