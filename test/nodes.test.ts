/**
 * The built-in node types, each run through its `run()` with a minimal in-process context on tiny data that the test
 * writes itself (Fashion-MNIST-format IDX files): artifacts round-trip, metrics are recorded, the alpha = 0 paths
 * need no teacher, and the report gathers evaluations into a page with images.
 */
import assert from 'node:assert/strict';
import {mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {dirname, join} from 'node:path';
import {after, before, test} from 'node:test';
import {Ajv} from 'ajv';
import {encodeIdx} from '../ml/data/idx.js';
import type {InputValue, JsonObject, JsonValue, NodeContext, NodeDefinition, UpstreamInfo} from '../nodes/api.js';
import {
  readDatasetArtifact,
  readModelArtifact,
  readSyntheticSetArtifact,
  readTrajectoryArtifact,
} from '../nodes/artifacts.js';
import builtins from '../nodes/index.js';

const ajv = new Ajv({useDefaults: true, strict: false});

/** What a fake run recorded. */
interface Ran {
  readonly metrics: Record<string, number>;
  readonly json: Record<string, JsonValue>;
  readonly files: Record<string, string>;
  readonly logs: string[];
  readonly progress: number[];
}

function definition(type: string): NodeDefinition {
  const d = builtins.find((n) => n.type === type);
  assert.ok(d, `built-in ${type} is registered`);
  return d;
}

let root: string;
let counter = 0;

/** Runs a built-in node in-process with schema defaults applied, like a worker would. */
async function runNode(
  type: string,
  params: JsonObject,
  inputs: Record<string, InputValue | readonly InputValue[] | undefined> = {},
  options: {seed?: number; upstream?: Record<string, readonly UpstreamInfo[]>} = {},
): Promise<Ran> {
  const def = definition(type);
  const resolved = structuredClone(params) as Record<string, unknown>;
  const validate = ajv.compile(def.params ?? {type: 'object'});
  assert.ok(validate(resolved), `${type} params valid: ${JSON.stringify(validate.errors)}`);
  const stage = join(root, `stage-${counter++}`);
  await mkdir(stage);
  const ran: Ran = {metrics: {}, json: {}, files: {}, logs: [], progress: []};
  const ctx: NodeContext = {
    id: type,
    type,
    params: resolved as JsonObject,
    inputs,
    ...(options.upstream === undefined ? {} : {upstream: options.upstream}),
    seed: options.seed ?? 1,
    device: {kind: 'cpu', id: '0'},
    signal: new AbortController().signal,
    progress: (f) => void ran.progress.push(f),
    log: (m) => void ran.logs.push(m),
    metric: (name, value) => {
      assert.ok(Number.isFinite(value), `metric ${name} is finite`);
      ran.metrics[name] = value;
    },
    write: (port, value) => {
      assert.ok(port in def.outputs, `${port} is an output of ${type}`);
      ran.json[port] = value;
    },
    file: (port, ext = '') => {
      assert.ok(port in def.outputs, `${port} is an output of ${type}`);
      const path = join(stage, `${port}${ext}`);
      ran.files[port] = path;
      return path;
    },
  };
  await def.run(ctx);
  for (const port of Object.keys(def.outputs)) assert.ok(port in ran.files || port in ran.json, `${type} wrote ${port}`);
  return ran;
}

/** Fashion-MNIST-format files: `perClass` 28x28 images per class, each class a bright band at its own rows. */
async function writeFashionFiles(dir: string, perClass: number, prefix: 'train' | 't10k'): Promise<Uint8Array> {
  const n = perClass * 10;
  const pixels = new Uint8Array(n * 28 * 28);
  const labels = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = i % 10;
    labels[i] = c;
    for (let p = 0; p < 28 * 28; p++) {
      const row = Math.floor(p / 28);
      const band = row >= c * 2 + 2 && row < c * 2 + 6;
      pixels[i * 784 + p] = band ? 200 + ((i * 7 + p) % 50) : (i * 13 + p * 3) % 40;
    }
  }
  await writeFile(join(dir, `${prefix}-images-idx3-ubyte`), encodeIdx([n, 28, 28], pixels));
  await writeFile(join(dir, `${prefix}-labels-idx1-ubyte`), encodeIdx([n], labels));
  return pixels;
}

let dataFile: string;
let trainPixels: Uint8Array;
let expertFiles: string[];
let teacherFile: string;

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'distillery-nodes-'));
  const fmnist = join(root, 'fmnist');
  await mkdir(fmnist);
  trainPixels = await writeFashionFiles(fmnist, 3, 'train');
  await writeFashionFiles(fmnist, 2, 't10k');
  const loaded = await runNode('loadFashionMNIST', {root: fmnist});
  dataFile = loaded.files['data'] ?? '';
});

after(async () => {
  await rm(root, {recursive: true, force: true});
});

test('registry: every built-in type is defined once, with a params schema that compiles', () => {
  const types = builtins.map((d) => d.type);
  assert.deepEqual(new Set(types).size, types.length);
  for (const t of ['loadCIFAR', 'loadFashionMNIST', 'trainExpert', 'trainTeacher', 'selectRandom', 'distillJoint', 'trainStudentKD', 'evaluate', 'report']) {
    assert.ok(types.includes(t), t);
    ajv.compile(definition(t).params ?? {});
  }
});

test('loadFashionMNIST: the Dataset artifact keeps the exact 8-bit pixels, labels, stats and class names', async () => {
  const data = await readDatasetArtifact(dataFile);
  assert.equal(data.train.n, 30);
  assert.equal(data.test.n, 20);
  assert.equal(data.train.classNames[0], 'T-shirt/top');
  const back = data.train.x.map((v) => Math.round((v * (data.train.std[0] ?? 1) + (data.train.mean[0] ?? 0)) * 255) + 0);
  assert.deepEqual(Array.from(back), Array.from(trainPixels));
  // A stratified limit keeps every class.
  const limited = await runNode('loadFashionMNIST', {root: join(root, 'fmnist'), trainLimit: 20, testLimit: 10});
  const sub = await readDatasetArtifact(limited.files['data'] ?? '');
  assert.equal(sub.train.n, 20);
  assert.deepEqual(new Set(sub.train.y), new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  assert.equal(limited.metrics['train_images'], 20);
});

test('loadFashionMNIST: a missing data set fails with the install hint', async () => {
  await assert.rejects(runNode('loadFashionMNIST', {root: join(root, 'nowhere')}), /apt-get install dataset-fashion-mnist/);
});

test('trainExpert: a trajectory of epochs + 1 snapshots, and its metrics', async () => {
  expertFiles = [];
  for (const seed of [1, 2]) {
    const ran = await runNode('trainExpert', {width: 4, depth: 2, epochs: 2, batchSize: 16}, {data: dataFile}, {seed});
    for (const m of ['train_loss', 'train_accuracy', 'test_accuracy']) assert.ok(m in ran.metrics, m);
    expertFiles.push(ran.files['trajectory'] ?? '');
  }
  const t = await readTrajectoryArtifact(expertFiles[0] ?? '');
  assert.equal(t.snapshots.length, 3);
  assert.equal(t.arch.kind, 'convnet');
  assert.notDeepEqual(Array.from(t.snapshots[0] ?? []), Array.from(t.snapshots[2] ?? []));
  const first = await readTrajectoryArtifact(expertFiles[0] ?? '', 2);
  assert.equal(first.snapshots.length, 2);
});

test('trainTeacher: a ResNet-18 (tiny width) with its batch-norm statistics', async () => {
  const ran = await runNode('trainTeacher', {arch: 'resnet18', widthMultiplier: 0.0625, epochs: 1, batchSize: 16, dsa: false}, {data: dataFile});
  assert.ok('test_accuracy' in ran.metrics);
  teacherFile = ran.files['model'] ?? '';
  const m = await readModelArtifact(teacherFile);
  assert.equal(m.arch.kind, 'resnet');
  assert.equal(m.params.length, 1);
  assert.ok((m.buffers[0]?.length ?? 0) > 0, 'batch-norm running statistics are kept');
  assert.equal(m.provenance['source'], 'teacher');
});

test('distill, students, evaluation and report: alpha = 0 without a teacher, alpha > 0 with one', async () => {
  const random = await runNode('selectRandom', {ipc: 2, lr: 0.02}, {data: dataFile}, {seed: 5});
  const randomSet = await readSyntheticSetArtifact(random.files['set'] ?? '');
  assert.equal(randomSet.set.n, 20);
  assert.equal(randomSet.lr, Float32Array.of(0.02)[0]);
  assert.deepEqual(Array.from(randomSet.set.y.slice(0, 4)), [0, 0, 1, 1]);

  const distillParams = {ipc: 1, syn_steps: 2, expert_epochs: 1, max_start_epoch: 1, iterations: 2, lr_img: 10, lr_lr: 1e-6};
  const plain = await runNode('distillJoint', {...distillParams, alpha: 0}, {data: dataFile, experts: expertFiles});
  const kd = await runNode('distillJoint', {...distillParams, alpha: 0.5, T: 2}, {data: dataFile, experts: expertFiles, teacher: teacherFile});
  for (const r of [plain, kd]) {
    assert.ok('final_loss' in r.metrics && 'syn_lr' in r.metrics);
    const curve = r.json['curve'] as {loss: number[]; syn_lr: number[]};
    assert.equal(curve.loss.length, 2);
    const s = await readSyntheticSetArtifact(r.files['set'] ?? '');
    assert.equal(s.set.n, 10);
    assert.equal(s.provenance['source'], 'distilled');
  }
  await assert.rejects(
    runNode('distillJoint', {...distillParams, alpha: 0.5}, {data: dataFile, experts: expertFiles}),
    /needs the "teacher" input/,
  );

  const student = await runNode('trainStudentKD', {width: 4, depth: 2, epochs: 2, seeds: 2}, {set: plain.files['set'], data: dataFile});
  const model = await readModelArtifact(student.files['model'] ?? '');
  assert.equal(model.params.length, 2);
  assert.ok('train_loss' in student.metrics);
  const kdStudent = await runNode(
    'trainStudentKD',
    {width: 4, depth: 2, epochs: 1, seeds: 1, alpha: 0.5, T: 4},
    {data: dataFile, teacher: teacherFile},
  );
  assert.equal((await readModelArtifact(kdStudent.files['model'] ?? '')).provenance['alpha'], 0.5);
  const randomStudent = await runNode('trainStudentKD', {width: 4, depth: 2, epochs: 1, seeds: 1}, {set: random.files['set']});

  const evals = [];
  for (const m of [student, randomStudent, kdStudent]) {
    const ev = await runNode('evaluate', {}, {model: m.files['model'], data: dataFile});
    assert.ok(ev.metrics['accuracy'] !== undefined && ev.metrics['accuracy'] >= 0 && ev.metrics['accuracy'] <= 100);
    assert.ok('accuracy_std' in ev.metrics);
    const json = ev.json['metrics'] as {confusion: number[][]; per_class: number[]; accuracies: number[]};
    assert.equal(json.confusion.length, 10);
    assert.equal(json.confusion.flat().reduce((a, b) => a + b, 0), 20 * json.accuracies.length);
    evals.push(ev.json['metrics'] as JsonValue);
  }
  assert.equal((evals[0] as {accuracies: number[]}).accuracies.length, 2);

  const rep = await runNode(
    'report',
    {title: 'tiny'},
    {evals, sets: [plain.files['set'] ?? '', kd.files['set'] ?? ''], curves: [plain.json['curve'] ?? null, kd.json['curve'] ?? null]},
    {
      upstream: {
        evals: [
          {id: 'eval{alpha=0}', type: 'evaluate', grid: {alpha: 0}},
          {id: 'evalRandom', type: 'evaluate', grid: {}},
          {id: 'evalKd', type: 'evaluate', grid: {}},
        ],
        sets: [{id: 'distill{alpha=0}', type: 'distillJoint', grid: {alpha: 0}}, {id: 'distill{alpha=0.5}', type: 'distillJoint', grid: {alpha: 0.5}}],
      },
    },
  );
  const mdFile = rep.files['report'] ?? '';
  const dir = dirname(mdFile);
  const md = await readFile(mdFile, 'utf8');
  assert.match(md, /\| eval\{alpha=0\} \| 0 \| distilled 1\/class, plain MTT/);
  assert.match(md, /random real 2\/class/);
  assert.match(md, /!\[Images: distill\{alpha=0\}\]\(report-set-0-distill_alpha-0.png\)/);
  assert.match(md, /full real data \(30 images\), student KD alpha 0.5/);
  const html = await readFile(rep.files['index'] ?? '', 'utf8');
  assert.equal((html.match(/<figure class="chart"[^>]*>\n<h2>[^<]*<\/h2>\n<svg /g) ?? []).length, 6, 'every figure is an inline SVG');
  const pngs = (await readdir(dir)).filter((f) => f.endsWith('.png')).sort();
  assert.deepEqual(pngs, [
    'report-accuracy.png',
    'report-grid.png',
    'report-loss.png',
    'report-lr.png',
    'report-set-0-distill_alpha-0.png',
    'report-set-1-distill_alpha-0.5.png',
  ]);
  assert.equal(rep.metrics['rows'], 3);
});

test('report rows: distilled sets are compared with the mean over random draws of the same size, and with plain MTT', async () => {
  const {buildRows, rowCells} = await import('../nodes/report-table.js');
  const distilled = (alpha: number, accuracy: number) => ({
    accuracy,
    accuracy_std: 0.1,
    provenance: {trainedOn: {source: 'distilled', ipc: 10, alpha, T: 1}},
  });
  const random = (ipc: number, accuracy: number) => ({accuracy, accuracy_std: 0.5, provenance: {trainedOn: {source: 'random', ipc}}});
  const rows = buildRows([distilled(0.3, 75), distilled(0, 74), random(10, 72), random(10, 76), random(1, 30)], undefined);
  assert.equal(rows[0]?.random, 74, 'mean of the two 10/class draws; the 1/class draw is another size');
  assert.equal(rows[0]?.randomDraws, 2);
  assert.equal(rows[0]?.kdGain, 1);
  assert.equal(rows[1]?.kdGain, undefined, 'plain MTT is not compared with itself');
  assert.equal(rows[2]?.random, undefined, 'a random draw is not compared with the others');
  assert.deepEqual(rowCells(rows[0]!, []).slice(5, 7), ['74.00 (2 draws)', '+1.00'], 'after instance, trained on, accuracy, seeds and n');
});

test('a node logs it when the wasm backend falls back to one thread, and nothing otherwise', async () => {
  const {startBackend} = await import('../nodes/start-backend.js');
  const base = {kind: 'wasm' as const, tfjsVersion: '4.22.0', fallbacks: []};
  const logged: string[] = [];
  const ctx = {log: (m: string) => logged.push(m)};
  await startBackend(ctx, async () => ({...base, wasmThreads: 2}));
  assert.deepEqual(logged, []);
  const note = 'the threaded build did not start (boom); running on one thread';
  const info = await startBackend(ctx, async () => ({...base, wasmThreads: 1, wasmThreadsNote: note}));
  assert.equal(info.wasmThreads, 1);
  assert.deepEqual(logged, [`wasm threads: ${note}`]);
});
