/**
 * Bad input at scale: inputs that would hang, exhaust memory or crash (a pipeline or an import that is a device, a
 * grid of a million combinations, an absurd repeat, `--jobs 1e9`, a summary into /proc or onto a folder) are each
 * refused quickly with a located message, and the caps can be raised where a real user could need more.
 */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir} from 'node:fs/promises';
import path from 'node:path';
import {Writable} from 'node:stream';
import {AnalyzeRig} from './analyze-rig.js';
import {renderDiagnostics} from '../runner/diagnostic.js';
import {main} from '../runner/cli.js';
import {parseDuration, formatDuration} from '../runner/duration.js';
import {outputFileProblem} from '../runner/output-file.js';

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(rig: AnalyzeRig, args: string[], env: NodeJS.ProcessEnv = {}): Promise<{code: number; stdout: string; stderr: string}> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, {stdout, stderr, cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu', ...env}});
  return {code, stdout: stdout.text, stderr: stderr.text};
}

/** Analyzes and renders, timing it: every refusal here must be quick, not a slow failure. */
async function refused(rig: AnalyzeRig, file: string, env: NodeJS.ProcessEnv = {}): Promise<{text: string; reasons: string[]; ms: number}> {
  const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
  const t0 = performance.now();
  const result = await analyzePipeline(file, {cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu', ...env}});
  const ms = performance.now() - t0;
  assert.ok(!result.ok, 'expected diagnostics');
  return {text: renderDiagnostics(result.error, {color: false}), reasons: result.error.map((d) => d.reason), ms};
}

describe('analysis caps', () => {
  test('a grid of a million combinations is refused at the node, before anything is expanded', async () => {
    await using rig = await AnalyzeRig.create();
    const values = JSON.stringify(Array.from({length: 1000}, (_, i) => i + 1));
    await rig.write('p.yaml', `imports: [./toy.ts]
grid: {a: ${values}, b: ${values}}
nodes:
  s: {type: scale, in: {numbers: src}, with: {factor: "\${grid.a}", mode: "\${grid.b}"}}
  src: {type: source}
`);
    const r = await refused(rig, 'p.yaml');
    assert.deepEqual(r.reasons.filter((x) => x === 'too-many-instances'), ['too-many-instances']);
    assert.match(r.text, /error: p\.yaml:4:3 node "s" makes 1000000 instances \(1 repeat x 1000000 grid variants over a, b\), and the plan would have 1000001, more than the limit of 100000/);
    assert.match(r.text, /hint: use a smaller grid or repeat; if you mean it, raise the limit with DISTILLERY_MAX_INSTANCES/);
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
  });

  test('repeat: 10000000 is refused at the repeat', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  src: {type: source, repeat: 10000000}\n');
    const r = await refused(rig, 'p.yaml');
    assert.equal(
      r.text,
      [
        'error: p.yaml:3:31 node "src" makes 10000000 instances (10000000 repeats x 1 grid variant), and the plan would have 10000000, more than the limit of 100000',
        '      src: {type: source, repeat: 10000000}',
        `    ${' '.repeat(30)}~~~~~~~~`,
        '  hint: use a smaller grid or repeat; if you mean it, raise the limit with DISTILLERY_MAX_INSTANCES',
        '',
        '1 error',
        '',
      ].join('\n'),
    );
  });

  test('grid variants count too: two nodes over 1,000 values each make a million variants', async () => {
    await using rig = await AnalyzeRig.create();
    const values = JSON.stringify(Array.from({length: 1000}, (_, i) => i + 1));
    await rig.write('p.yaml', `imports: [./toy.ts]
grid: {a: ${values}, b: ${values}}
nodes:
  x: {type: source, with: {count: "\${grid.a}"}}
  y: {type: source, with: {count: "\${grid.b}"}}
`);
    const r = await refused(rig, 'p.yaml');
    assert.match(r.text, /error: p\.yaml:2:8 the grid has 1000000 combinations of a, b, more than the limit of 100000/);
  });

  test('DISTILLERY_MAX_INSTANCES raises (or lowers) the cap; a malformed value is located in the environment', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  src: {type: source, repeat: 150}\n');
    const low = await refused(rig, 'p.yaml', {DISTILLERY_MAX_INSTANCES: '100'});
    assert.deepEqual(low.reasons, ['too-many-instances']);
    const {analyzePipeline} = await import('../runner/analyze-pipeline.js');
    const ok = await analyzePipeline('p.yaml', {cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu', DISTILLERY_MAX_INSTANCES: '150'}});
    assert.ok(ok.ok);
    assert.equal(ok.value.nodes.size, 150);
    const bad = await refused(rig, 'p.yaml', {DISTILLERY_MAX_INSTANCES: 'lots'});
    assert.match(bad.text, /^error: environment:1:26 DISTILLERY_MAX_INSTANCES must be a whole number, 1 or more\n/);
  });

  test('a pipeline that is /dev/zero, or too big, is refused quickly; DISTILLERY_MAX_PIPELINE_BYTES sets the cap', async () => {
    await using rig = await AnalyzeRig.create();
    if (existsSync('/dev/zero')) {
      const zero = await refused(rig, '/dev/zero');
      assert.match(zero.text, /^error: \/dev\/zero:1:1 cannot read the pipeline: it has more than 8388608 bytes\n/);
      assert.match(zero.text, /hint: a pipeline is at most 8388608 bytes; DISTILLERY_MAX_PIPELINE_BYTES raises the limit/);
      assert.ok(zero.ms < 10_000, `took ${zero.ms} ms`);
    }
    await rig.write('p.yaml', `imports: [./toy.ts]\nnodes:\n  src: {type: source}\n# ${'x'.repeat(2000)}\n`);
    const big = await refused(rig, 'p.yaml', {DISTILLERY_MAX_PIPELINE_BYTES: '1000'});
    assert.match(big.text, /cannot read the pipeline: it has 20\d\d bytes, more than 1000/);
  });

  test('imports: [/dev/zero] is refused as not a regular file', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [/dev/zero]\nnodes:\n  src: {type: source}\n');
    const r = await refused(rig, 'p.yaml');
    assert.match(r.text, /error: p\.yaml:1:11 cannot import "\/dev\/zero": not a regular file/);
  });

  test('node timeout: is a duration; a bad one is located', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: source, timeout: 1h30m}\n  b: {type: source, timeout: soon}\n  c: {type: source, timeout: 90d}\n');
    const r = await refused(rig, 'p.yaml');
    assert.match(r.text, /error: p\.yaml:4:30 timeout of node "b": cannot read "soon" as a duration/);
    assert.match(r.text, /error: p\.yaml:5:30 timeout of node "c": a duration can be at most 24 days/);
    await rig.write('q.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: source, timeout: 1h30m}\n  b: {type: source, timeout: 2.5}\n');
    const plan = await rig.plan('q.yaml');
    assert.equal(plan.nodes.get('a')?.timeoutMs, 5_400_000);
    assert.equal(plan.nodes.get('b')?.timeoutMs, 2_500);
    // A timeout bounds a run; it does not change results, so it is not in the key.
    const without = await rig.plan('q.yaml', ['nodes.a.timeout=5']);
    assert.equal(without.nodes.get('a')?.key, plan.nodes.get('a')?.key);
  });
});

describe('errors are messages, never stack traces', () => {
  test('5,000 levels of YAML nesting: a located error, exit 2', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', `imports: [./toy.ts]\nparams:\n  x: ${'['.repeat(5000)}${']'.repeat(5000)}\nnodes:\n  src: {type: source}\n`);
    const r = await cli(rig, ['validate', 'p.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: p\.yaml:3:\d+ the YAML nests too deeply to be read\n/);
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  });

  test('an error nothing else caught is an internal error: exit 70, no stack unless DISTILLERY_DEBUG', async () => {
    const {reportUnexpected} = await import('../runner/cli.js');
    const stderr = new Capture();
    assert.equal(reportUnexpected('run', new Error('boom'), {stderr, env: {}}), 70);
    assert.equal(stderr.text, 'distillery run: internal error: boom\n  this is a bug in distillery; DISTILLERY_DEBUG=1 shows where it happened\n');
    const debug = new Capture();
    reportUnexpected('run', new Error('boom'), {stderr: debug, env: {DISTILLERY_DEBUG: '1'}});
    assert.match(debug.text, /internal error: boom\nError: boom\n\s+at /);
    const full = new Capture();
    const enospc = Object.assign(new Error("ENOSPC: no space left on device, write '/x/summary.json'"), {code: 'ENOSPC'});
    assert.equal(reportUnexpected('run', enospc, {stderr: full, env: {}}), 2);
    assert.equal(full.text, "distillery run: error: ENOSPC: no space left on device, write '/x/summary.json'\n");
  });
});

describe('durations', () => {
  test('parse and format', () => {
    assert.deepEqual(parseDuration(90), {ok: true, value: 90_000});
    assert.deepEqual(parseDuration('1h30m'), {ok: true, value: 5_400_000});
    assert.deepEqual(parseDuration('250ms'), {ok: true, value: 250});
    assert.deepEqual(parseDuration('1m30s'), {ok: true, value: 90_000});
    assert.deepEqual(parseDuration(' 45 '), {ok: true, value: 45_000});
    for (const bad of ['', 'soon', '5x', '-1', 0, -3, '25d', null]) assert.equal(parseDuration(bad).ok, false, String(bad));
    assert.equal(formatDuration(5_400_000), '1h30m');
    assert.equal(formatDuration(300), '300ms');
  });
});

describe('command-line caps and output paths', () => {
  test('--jobs 1e9, --retries 1000 and --timeout soon are refused before any work', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  src: {type: source}\n');
    for (const [args, message] of [
      [['--jobs', '1e9'], /--jobs must be a whole number >= 1, got '1e9'/],
      [['--jobs', '1000000000'], /--jobs can be at most 1024, got '1000000000'/],
      [['--retries', '1000'], /--retries can be at most 100/],
      [['--timeout', 'soon'], /--timeout: cannot read "soon" as a duration/],
    ] as const) {
      const r = await cli(rig, ['run', 'p.yaml', '--cache-dir', 'c', ...args]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, message);
      assert.ok(!existsSync(path.join(rig.dir, 'c')), 'nothing ran');
    }
  });

  test('--summary into /proc, onto a folder or a device, and export --out onto a folder: refused up front', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  src: {type: source}\n');
    await mkdir(path.join(rig.dir, 'folder'));
    const cases: Array<[string, RegExp]> = [
      ['folder', /--summary: .*folder is a folder; give a file name/],
      ['out/', /--summary: out\/ names a folder/],
      ['/dev/null', /--summary: \/dev\/null is not a regular file/],
    ];
    if (existsSync('/proc/self')) {
      cases.push(['/proc/distillery-summary.json', /--summary: \/proc\/distillery-summary\.json is on a kernel file system/]);
      cases.push(['/proc/self/status', /--summary: \/proc\/self\/status is on a kernel file system/]);
    }
    for (const [target, message] of cases) {
      const r = await cli(rig, ['run', 'p.yaml', '--cache-dir', 'c', '--summary', target]);
      assert.equal(r.code, 2, `${target}: ${r.stderr}`);
      assert.match(r.stderr, message);
    }
    assert.ok(!existsSync(path.join(rig.dir, 'c')), 'nothing ran');
    const exported = await cli(rig, ['export', 'p.yaml', 'src', '--out', 'folder']);
    assert.equal(exported.code, 2);
    assert.match(exported.stderr, /--out: .*folder is a folder; give a file name/);
    assert.equal(await outputFileProblem(path.join(rig.dir, 'new', 'deeper', 'summary.json')), undefined);
    assert.match((await outputFileProblem(path.join(rig.dir, 'p.yaml', 'x.json'))) ?? '', /p\.yaml is not a folder/);
  });
});
