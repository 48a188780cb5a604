/** The `validate`, `plan` and `graph` commands: in process through the CLI dispatcher, and two real CLI processes. */
import {describe, test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn, spawnSync} from 'node:child_process';
import {mkdir, writeFile} from 'node:fs/promises';
import path from 'node:path';
import {Writable} from 'node:stream';
import {fileURLToPath} from 'node:url';
import {main} from '../runner/cli.js';
import {AnalyzeRig} from './analyze-rig.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

const PIPELINE = `name: tiny
imports: [./toy.ts]
grid: {f: [1, 2]}
nodes:
  src: {type: source, repeat: 2}
  sc: {type: scale, in: {numbers: "src[0]"}, with: {factor: "\${grid.f}"}}
  total: {type: sum, in: {parts: [sc, "src[1]"]}}
`;

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

async function cli(rig: AnalyzeRig, args: string[]): Promise<{code: number; stdout: string; stderr: string}> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, {stdout, stderr, cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu'}});
  return {code, stdout: stdout.text, stderr: stderr.text};
}

describe('validate', () => {
  test('a valid pipeline: exit 0 and a one-line summary', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE);
    assert.deepEqual(await cli(rig, ['validate', 'p.yaml']), {code: 0, stdout: 'ok: p.yaml: 6 node instances, 2 variants\n', stderr: ''});
  });

  test('warnings do not fail validation: exit 0, the warning on stderr', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE.replace('grid: {', 'grid: {unused: [1, 2], '));
    const r = await cli(rig, ['validate', 'p.yaml']);
    assert.equal(r.code, 0);
    assert.equal(r.stdout, 'ok: p.yaml: 6 node instances, 2 variants\n');
    assert.match(r.stderr, /^warning: p\.yaml:\d+:\d+ grid variable 'unused' is used by no node, so it expands nothing\n/);
    assert.match(r.stderr, /\n1 warning\n$/);
  });

  test('problems: exit 2, rendered diagnostics on stderr; bad usage: exit 2', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE);
    const bad = await cli(rig, ['validate', 'p.yaml', '--set', 'nodes.sc.with.factor=big']);
    assert.equal(bad.code, 2);
    assert.equal(bad.stdout, '');
    // The override also replaced the only use of grid variable f, which is worth a warning next to the error.
    assert.match(
      bad.stderr,
      /^warning: p\.yaml:\d+:\d+ grid variable 'f' is used by no node[^]*\nerror: command line:1:\d+ param "factor" must be a number, got string "big"/,
    );
    assert.match(bad.stderr, /1 error, 1 warning\n$/);
    const usage = await cli(rig, ['validate']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /expected exactly one pipeline FILE/);
  });
});

describe('plan', () => {
  test('lists every instance in order with its status; --json has keys and variants', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE);
    const text = await cli(rig, ['plan', 'p.yaml']);
    assert.equal(text.code, 0);
    assert.equal(
      text.stdout,
      [
        'tiny: 6 instances, 0 cached, 6 to run',
        '  run    src[0]      source',
        '  run    src[1]      source',
        '  run    sc{f=1}     scale',
        '  run    sc{f=2}     scale',
        '  run    total{f=1}  sum',
        '  run    total{f=2}  sum',
        '',
      ].join('\n'),
    );
    const json = JSON.parse((await cli(rig, ['plan', 'p.yaml', '--json'])).stdout) as {nodes: {id: string; key: string; status: string}[]; variants: unknown[]};
    assert.equal(json.nodes.length, 6);
    assert.match(json.nodes[0]?.key ?? '', /^[0-9a-f]{16}$/);
    assert.equal(json.variants.length, 2);
  });

  test('a key present in the cache shows as cached', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE);
    const plan = await rig.plan('p.yaml');
    const key = plan.nodes.get('src[0]')?.key ?? '';
    const {LocalStore} = await import('../cache/local-store.js');
    const store = await LocalStore.open(path.join(rig.dir, 'c'));
    const staging = await store.stage(key);
    await writeFile(path.join(staging.dir, 'numbers.json'), '[1]');
    await staging.commit({
      outputs: {numbers: {file: 'numbers.json', format: 'json'}},
      metrics: {},
      timings: {startedAt: new Date().toISOString(), seconds: 0},
      producer: {nodeId: 'src[0]', type: 'source', host: 'h', distilleryVersion: '0'},
    });
    const out = await cli(rig, ['plan', 'p.yaml', '--cache-dir', 'c']);
    assert.match(out.stdout, /^tiny: 6 instances, 1 cached, 5 to run\n {2}cached src\[0\]/);
  });

  test('--explain compares with the last run record that has each instance', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE);
    const before = await rig.plan('p.yaml');
    const record = (runId: string, ids: string[]) =>
      writeFile(
        path.join(rig.dir, '.distillery', 'runs', runId, 'summary.json'),
        JSON.stringify({pipeline: 'tiny', file: 'p.yaml', startedAt: '', nodes: ids.map((id) => {
          const n = before.nodes.get(id);
          return {id, type: n?.type, key: n?.key, keyParts: n?.keyParts, status: 'ran', seconds: 0, metrics: {}};
        })}),
      );
    await mkdir(path.join(rig.dir, '.distillery', 'runs', '2026-01-01T00-00-00-000Z-aaaa'), {recursive: true});
    await mkdir(path.join(rig.dir, '.distillery', 'runs', '2026-01-02T00-00-00-000Z-bbbb'), {recursive: true});
    await record('2026-01-01T00-00-00-000Z-aaaa', ['src[0]', 'src[1]', 'sc{f=1}', 'total{f=1}']);
    await record('2026-01-02T00-00-00-000Z-bbbb', ['src[0]']);
    const out = await cli(rig, ['plan', 'p.yaml', '--explain', '--set', 'nodes.sc.with.mode=add', '--set', 'nodes.src.seed=5']);
    assert.equal(out.code, 0, out.stderr);
    const lines = out.stdout.split('\n');
    assert.match(lines.find((l) => l.includes('src[0] ')) ?? '', /seed changed \(\d+ -> \d+\)$/);
    assert.match(lines.find((l) => l.includes('sc{f=1}')) ?? '', /param mode changed \("mul" -> "add"\); input numbers changed \(upstream src\[0\] has a new key\)$/);
    assert.match(lines.find((l) => l.includes('sc{f=2}')) ?? '', /never run before$/);
    const unchanged = await cli(rig, ['plan', 'p.yaml', '--explain']);
    assert.match(unchanged.stdout.split('\n').find((l) => l.includes('src[1]')) ?? '', /its cache entry is missing/);
  });
});

describe('graph', () => {
  test('mermaid and dot show every instance and input edge', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE);
    const mermaid = await cli(rig, ['graph', 'p.yaml']);
    assert.equal(mermaid.code, 0);
    assert.match(mermaid.stdout, /^flowchart LR\n {2}n0\["src\[0\]<br\/>source"\]/);
    assert.equal(mermaid.stdout.match(/-->/g)?.length, 6);
    const dot = await cli(rig, ['graph', 'p.yaml', '--format', 'dot']);
    assert.match(dot.stdout, /^digraph "tiny" \{/);
    assert.match(dot.stdout, /"src\[0\]" \[label="src\[0\]\\nsource"\];/);
    assert.match(dot.stdout, /"sc\{f=2\}" -> "total\{f=2\}" \[label="parts"\];/);
    const bad = await cli(rig, ['graph', 'p.yaml', '--format', 'png']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--format must be one of mermaid, dot/);
  });
});

describe('the real CLI process', () => {
  test('bad input exits 2 with diagnostics and no stack trace; a good file exits 0', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('bad.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: source, repeat: -1}\n  b: {type: scale, in: {numbers: a}}\n  c: [unclosed\n');
    await rig.write('worse.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: source, repeat: -1, with: {count: x}}\n  b: {type: scale, in: {numbers: zz}}\n');
    await rig.write('good.yaml', PIPELINE);
    const run = (file: string) =>
      spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(REPO, 'runner', 'cli-main.ts'), 'validate', file], {
        cwd: rig.dir,
        encoding: 'utf8',
        env: {...process.env, DISTILLERY_BACKEND: 'cpu'},
      });
    for (const file of ['bad.yaml', 'worse.yaml']) {
      const result = run(file);
      assert.equal(result.status, 2, result.stderr);
      assert.match(result.stderr, new RegExp(`^error: ${file.replace('.', '\\.')}:\\d+:\\d+ `));
      assert.doesNotMatch(result.stderr, /\n\s+at .+:\d+:\d+\)?\n/, 'no stack trace');
    }
    assert.match(run('worse.yaml').stderr, /3 errors\n$/);
    const good = run('good.yaml');
    assert.equal(good.status, 0, good.stderr);
  });

  test('the CLI holds the young generation at its size, also after a second; node options that size it win', async () => {
    await using rig = await AnalyzeRig.create();
    // Keeps about 40 MB of small objects alive, as a command keeps its plan, and reports how much the young
    // generation grew meanwhile: V8 doubles it while objects survive, unless the CLI's settings hold it.
    const probe = (settings: 'cli' | 'none', waitMs: number) => `
      ${settings === 'cli' ? `await import(${JSON.stringify(path.join(REPO, 'runner', 'cli-v8-flags.ts'))});` : ''}
      const {getHeapSpaceStatistics} = await import('node:v8');
      await new Promise((resolve) => setTimeout(resolve, ${waitMs}));
      const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
      const before = young();
      const kept = [];
      for (let i = 0; i < 400_000; i++) kept.push({i, name: 'instance ' + i, parts: [i, i + 1]});
      process.stdout.write(String((young() - before) / 2 ** 20) + ' ' + kept.length);
    `;
    const growthMiB = async (settings: 'cli' | 'none', waitMs: number, nodeOptions = ''): Promise<number> => {
      const file = path.join(rig.dir, `probe-${settings}-${waitMs}.mjs`);
      await writeFile(file, probe(settings, waitMs));
      const result = spawnSync(process.execPath, ['--import', import.meta.resolve('tsx'), file], {
        encoding: 'utf8',
        env: {...process.env, NODE_OPTIONS: nodeOptions},
      });
      assert.equal(result.status, 0, result.stderr);
      return Number(result.stdout.split(' ')[0]);
    };
    // Held from the start and for good: handing V8 its growth back later sent it into a loop of full collections.
    for (const waitMs of [0, 1300]) {
      const held = await growthMiB('cli', waitMs);
      assert.equal(held, 0, `after ${waitMs} ms the young generation should keep its size, but it grew by ${held} MiB`);
    }
    // Without the CLI's settings, or sized by the user, it grows as V8 has it.
    for (const [settings, waitMs, options] of [['none', 0, ''], ['cli', 0, '--max-semi-space-size=16']] as const) {
      const grown = await growthMiB(settings, waitMs, options);
      assert.ok(grown >= 8, `${settings} settings, ${waitMs} ms, '${options}': expected the young generation to grow, it grew by ${grown} MiB`);
    }
  });
});

describe('command-line conventions', () => {
  test('a mistyped command gets a did-you-mean', async () => {
    await using rig = await AnalyzeRig.create();
    const r = await cli(rig, ['valdiate', 'p.yaml']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^distillery: unknown command 'valdiate'; did you mean "validate"\?\n/);
  });

  test('--set with a path the pipeline does not have is an error with a did-you-mean, not a silent no-op', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', PIPELINE.replace('grid: {f: [1, 2]}', 'params: {studentEpochs: 5}\ngrid: {f: [1, 2]}'));
    for (const [set, message, hint] of [
      ['params.studentEpoch=60', /--set params\.studentEpoch: the pipeline has no params\.studentEpoch, so this override would change nothing/, /did you mean "studentEpochs"/],
      ['grid.g=[1]', /the pipeline has no grid\.g/, /did you mean "f"/],
      ['nodes.scc.with.factor=2', /the pipeline has no nodes\.scc/, /did you mean "sc"/],
    ] as const) {
      const r = await cli(rig, ['validate', 'p.yaml', '--set', set]);
      assert.equal(r.code, 2, set);
      assert.match(r.stderr, message);
      assert.match(r.stderr, hint);
    }
    // Replacing what exists, and adding a param a node type checks, are fine.
    assert.equal((await cli(rig, ['validate', 'p.yaml', '--set', 'params.studentEpochs=6', '--set', 'nodes.src.with.count=4'])).code, 0);
  });

  test('NO_COLOR turns colour off even on a terminal', async () => {
    await using rig = await AnalyzeRig.create();
    await rig.write('p.yaml', 'imports: [./toy.ts]\nnodes:\n  a: {type: nope}\n');
    const run = async (env: NodeJS.ProcessEnv): Promise<string> => {
      const stdout = new Capture();
      const stderr = Object.assign(new Capture(), {isTTY: true});
      await main(['validate', 'p.yaml'], {stdout, stderr, cwd: rig.dir, env: {DISTILLERY_BACKEND: 'cpu', ...env}});
      return stderr.text;
    };
    assert.match(await run({}), /\x1b\[/);
    assert.doesNotMatch(await run({NO_COLOR: '1'}), /\x1b\[/);
    assert.doesNotMatch(await run({TERM: 'dumb'}), /\x1b\[/);
  });

  test('a closed pipe ends quietly: cache ls | head -1', async () => {
    await using rig = await AnalyzeRig.create();
    const {LocalStore} = await import('../cache/local-store.js');
    const {put, testKey} = await import('./cache-conformance.js');
    const store = await LocalStore.open(path.join(rig.dir, 'c'));
    for (let i = 0; i < 300; i++) await put(store, testKey(`pipe${i}`), i);
    const result = await new Promise<{code: number | null; stderr: string}>((resolve) => {
      const child = spawn(process.execPath, ['--import', import.meta.resolve('tsx'), path.join(REPO, 'runner', 'cli-main.ts'), 'cache', 'ls', '--cache-dir', 'c'], {cwd: rig.dir});
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      // Like `head -1`: read the first line, then close the pipe.
      child.stdout.once('data', () => child.stdout.destroy());
      child.on('close', (code) => resolve({code, stderr}));
    });
    assert.equal(result.stderr, '');
    assert.equal(result.code, 0);
  });

  test('standard output through its descriptor: all of it, in order; a descriptor that fails hands the rest to the stream', async () => {
    await using rig = await AnalyzeRig.create();
    const {FdOutput} = await import('../runner/text-output.js');
    const {closeSync, openSync, readFileSync} = await import('node:fs');
    const file = path.join(rig.dir, 'out.txt');
    const fd = openSync(file, 'w');
    const never = (): NodeJS.WriteStream => assert.fail('no stream is needed while the descriptor takes everything');
    const out = new FdOutput(fd, never);
    const text = 'line 1\n' + 'é ∑ 🙂 '.repeat(20_000) + '\nlast line without newline';
    out.write(text);
    out.write('!');
    closeSync(fd);
    assert.equal(readFileSync(file, 'utf8'), text + '!');
    // A descriptor that cannot be written (here: closed) gives the rest, and everything after, to the stream.
    const stream = new Capture();
    const broken = new FdOutput(fd, () => stream as unknown as NodeJS.WriteStream);
    broken.write('a');
    broken.write('b');
    assert.equal(stream.text, 'ab');
  });

  test('cache ls --json; gc --dry-run changes nothing; a big gc lists what it would remove and needs --yes', async () => {
    await using rig = await AnalyzeRig.create();
    const {LocalStore} = await import('../cache/local-store.js');
    const {put, testKey} = await import('./cache-conformance.js');
    const store = await LocalStore.open(path.join(rig.dir, 'c'));
    for (let i = 0; i < 120; i++) await put(store, testKey(`gc${i}`), i);
    const ls = await cli(rig, ['cache', 'ls', '--json', '--cache-dir', 'c']);
    const rows = JSON.parse(ls.stdout) as {key: string; nodeId: string; size: number}[];
    assert.equal(rows.length, 120);
    assert.match(rows[0]?.key ?? '', /^[0-9a-f]{16}$/);
    const dry = await cli(rig, ['cache', 'gc', '--max-size', '0', '--dry-run', '--cache-dir', 'c']);
    assert.equal(dry.code, 0);
    assert.match(dry.stdout, /would remove 120 entries/);
    assert.equal((await store.list()).length, 120);
    const unconfirmed = await cli(rig, ['cache', 'gc', '--max-size', '0', '--cache-dir', 'c']);
    assert.equal(unconfirmed.code, 2);
    assert.match(unconfirmed.stderr, /not removing 120 entries .* without --yes/);
    assert.equal((await store.list()).length, 120);
    const confirmed = await cli(rig, ['cache', 'gc', '--max-size', '0', '--yes', '--cache-dir', 'c']);
    assert.equal(confirmed.code, 0);
    assert.match(confirmed.stdout, /^removed 120 entries/);
    assert.equal((await store.list()).length, 0);
  });
});
