/**
 * The shipped pipelines: all three validate and plan; the paper pipeline runs end to end through the real CLI at a
 * tiny size (`--set`) on CIFAR-10 binary files the test writes itself, writes its report, and changing one alpha
 * value plans only that variant's distill/student/eval instances (plus the report) for recomputation.
 */
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, readdir, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {after, before, test} from 'node:test';
import {analyzePipeline} from '../runner/analyze-pipeline.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const CLI = join(REPO, 'runner', 'cli-main.ts');
const TSX = import.meta.resolve('tsx');
const PAPER = join(REPO, 'pipelines', 'paper.yaml');

let root: string;

function cli(args: readonly string[]): Promise<{code: number; stdout: string; stderr: string}> {
  return new Promise((resolvePromise) => {
    execFile(
      process.execPath,
      ['--import', TSX, CLI, ...args],
      {cwd: root, env: {...process.env, DISTILLERY_BACKEND: 'wasm'}, maxBuffer: 64 * 1024 * 1024},
      (error, stdout, stderr) => {
        const code = error === null ? 0 : typeof error.code === 'number' ? error.code : 1;
        resolvePromise({code, stdout, stderr});
      },
    );
  });
}

/** One CIFAR-10 binary batch: `records` records of 1 label byte + 3072 channel-major pixels, one class each in turn. */
function cifarBatch(records: number, salt: number): Uint8Array {
  const out = new Uint8Array(records * 3073);
  for (let r = 0; r < records; r++) {
    const label = r % 10;
    out[r * 3073] = label;
    for (let p = 0; p < 3072; p++) {
      const channel = Math.floor(p / 1024);
      out[r * 3073 + 1 + p] = (channel === label % 3 ? 150 : 40) + ((p * 7 + r * 13 + salt) % 60);
    }
  }
  return out;
}

/** Everything tiny: 2 experts of 2 epochs, a 1/16-width ResNet-50, 1 iteration of 1 step, 1 epoch students. */
const TINY = [
  'nodes.data.with.root=cifar',
  'nodes.data.with.download=false',
  'nodes.expert.repeat=2',
  'params.width=4',
  'params.depth=2',
  'params.expertTrainEpochs=2',
  'params.maxStartEpoch=1',
  'params.expertEpochs=1',
  'params.iterations=1',
  'params.synSteps=1',
  'params.ipc=1',
  'params.lrImg=10',
  'params.studentEpochs=1',
  'params.studentSeeds=1',
  'params.teacherEpochs=1',
  'params.teacherWidth=0.0625',
  'params.fullEpochs=1',
  'params.kdEpochs=1',
  'grid.T=[1]',
].flatMap((s) => ['--set', s]);

before(async () => {
  root = await mkdtemp(join(tmpdir(), 'distillery-pipelines-'));
  const cifar = join(root, 'cifar');
  await mkdir(cifar);
  for (let b = 1; b <= 5; b++) await writeFile(join(cifar, `data_batch_${b}.bin`), cifarBatch(10, b));
  await writeFile(join(cifar, 'test_batch.bin'), cifarBatch(20, 99));
});

after(async () => {
  await rm(root, {recursive: true, force: true});
});

test('quickstart, fmnist and paper validate and plan', async () => {
  for (const name of ['quickstart', 'fmnist', 'paper']) {
    const analyzed = await analyzePipeline(join(REPO, 'pipelines', `${name}.yaml`), {sets: [], env: process.env, cwd: REPO});
    assert.ok(analyzed.ok, `${name}: ${analyzed.ok ? '' : JSON.stringify(analyzed.error.map((d) => d.message))}`);
    const plan = analyzed.value;
    const types = new Set([...plan.nodes.values()].map((n) => n.type));
    for (const t of ['trainExpert', 'trainTeacher', 'selectRandom', 'distillJoint', 'trainStudentKD', 'evaluate', 'report']) {
      assert.ok(types.has(t), `${name} uses ${t}`);
    }
    const reports = [...plan.nodes.values()].filter((n) => n.type === 'report');
    assert.equal(reports.length, 1, `${name}: one report gathers the whole grid`);
    const distills = [...plan.nodes.values()].filter((n) => n.type === 'distillJoint' && Object.keys(n.grid).length > 0);
    // fmnist.yaml runs 200 full-unroll iterations per variant and must stay under 45 minutes cold on 2 cores, so its
    // grid is 1 x 2 (alpha x T); the others keep a 2 x 2 grid.
    const least = name === 'fmnist' ? 2 : 4;
    assert.ok(distills.length >= least, `${name}: an alpha x T grid of at least ${least} variants`);
    const evalsPort = reports[0]?.inputs.find((i) => i.port === 'evals');
    assert.ok(evalsPort !== undefined && evalsPort.from.length >= distills.length + 2, `${name}: the report sees every variant and the baselines`);
  }
});

test('paper pipeline: end to end at a tiny size, report written; one alpha changed replans only its variant', async () => {
  const ran = await cli(['run', PAPER, ...TINY, '--cache-dir', 'cache', '--jobs', '2', '--json']);
  assert.equal(ran.code, 0, ran.stdout.split('\n').filter((l) => l.includes('failed') || l.includes('error')).join('\n') + ran.stderr);

  const plan = await cli(['plan', PAPER, ...TINY, '--cache-dir', 'cache', '--json']);
  assert.equal(plan.code, 0, plan.stderr);
  const body = JSON.parse(plan.stdout) as {nodes: {id: string; status: string; key: string}[]};
  const notCached = body.nodes.filter((n) => n.status !== 'cached').map((n) => `${n.id}: ${n.status}`);
  assert.deepEqual(notCached, [], 'everything is cached after the run');
  const report = body.nodes.find((n) => n.id === 'report');
  assert.ok(report !== undefined);
  const entry = join(root, 'cache', report.key.slice(0, 2), report.key);
  const files = await readdir(entry);
  assert.ok(files.includes('report.md') && files.includes('index.html'), files.join(', '));
  const md = await readFile(join(entry, 'report.md'), 'utf8');
  assert.match(md, /eval\{T=1,alpha=0\.3\}/);
  assert.match(md, /random real 1\/class/);
  assert.match(md, /teacher ResNet-50/);
  assert.ok(files.filter((f) => f.endsWith('.png')).length >= 4 + 1, 'set grids and loss curves');

  const changed = await cli(['plan', PAPER, ...TINY, '--set', 'grid.alpha=[0.3, 0.9]', '--cache-dir', 'cache', '--json']);
  assert.equal(changed.code, 0, changed.stderr);
  const after = JSON.parse(changed.stdout) as {nodes: {id: string; status: string}[]};
  const toRun = after.nodes.filter((n) => n.status !== 'cached').map((n) => n.id).sort();
  assert.deepEqual(toRun, ['distill{T=1,alpha=0.9}', 'eval{T=1,alpha=0.9}', 'report', 'student{T=1,alpha=0.9}']);
  assert.ok(existsSync(join(root, '.distillery', 'runs')), 'a run record was written');
});
