/**
 * The package as a library: built and packed as `npm pack` does, unpacked into a scratch project, then used from
 * plain Node (no tsx on the command line): the node API by its documented specifier `distillery/nodes/api.js`, a
 * node module written in TypeScript in `imports:`, and the programmatic API (load, plan, run, results), type-checked
 * against the package's declarations and run.
 *
 * The scratch project gets the package's own files from the tarball; its dependencies are linked from this
 * checkout's node_modules, which is what `npm install` would put there (installing them again would need the
 * registry).
 */
import {after, before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {execFileSync, spawnSync} from 'node:child_process';
import {mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSC = join(REPO, 'node_modules', 'typescript', 'bin', 'tsc');

const NODES_TS = `import {defineNode} from 'distillery/nodes/api.js';
import type {NodeContext} from 'distillery/nodes/api.js';

interface TotalParams {
  readonly factor: number;
}

function total(ctx: NodeContext<TotalParams>): number {
  const xs = ctx.inputs['xs'] as readonly number[];
  return xs.reduce((a, b) => a + b, 0) * ctx.params.factor;
}

export default [
  defineNode<{count: number}>({
    type: 'numbers',
    params: {type: 'object', additionalProperties: false, properties: {count: {type: 'integer', default: 3}}},
    outputs: {out: {kind: 'Numbers'}},
    run(ctx) {
      ctx.write('out', Array.from({length: ctx.params.count}, (_, i) => i + 1));
    },
  }),
  defineNode<TotalParams>({
    type: 'total',
    params: {type: 'object', additionalProperties: false, properties: {factor: {type: 'number', default: 1}}},
    inputs: {xs: {kind: 'Numbers'}},
    outputs: {m: {kind: 'Metrics'}},
    run(ctx) {
      const value: number = total(ctx);
      ctx.metric('total', value);
      ctx.write('m', {total: value});
    },
  }),
];
`;

const PIPELINE = `name: scratch
imports: [./my-nodes.ts]
grid: {factor: [1, 2]}
nodes:
  n: {type: numbers}
  t: {type: total, in: {xs: n}, with: {factor: "\${grid.factor}"}}
`;

const MAIN_TS = `import {loadPipeline, pipelineResults, planPipeline, renderDiagnostics, runPipeline} from 'distillery';
import type {RunEvent} from 'distillery';

const loaded = await loadPipeline(process.argv[2] ?? 'p.yaml');
if (!loaded.ok) {
  process.stderr.write(renderDiagnostics(loaded.error, {color: false}));
  process.exit(2);
}
const before = await planPipeline(loaded.value);
const events: RunEvent['type'][] = [];
const outcome = await runPipeline(loaded.value, {jobs: 1, onEvent: (e) => events.push(e.type)});
const rows = await pipelineResults(loaded.value);
process.stdout.write(JSON.stringify({
  before: before.map((s) => s.status),
  status: outcome.status,
  counts: outcome.counts,
  events: [events[0], events.at(-1)],
  runId: outcome.summary.runId,
  rows: rows.map((r) => [r.id, r.metrics['total']]),
}) + '\\n');
`;

describe('the packed package in a scratch project', () => {
  let app: string;
  before(async () => {
    // The package's build (what \`npm pack\` / \`npm install\` run as its prepare script), so the package holds the
    // current sources' build.
    execFileSync('npm', ['run', 'build', '--silent'], {cwd: REPO, stdio: 'pipe'});
    app = await mkdtemp(join(tmpdir(), 'distillery-app-'));
    execFileSync('npm', ['pack', '--ignore-scripts', '--silent', '--pack-destination', app], {cwd: REPO, stdio: 'pipe'});
    const tarball = (await readdir(app)).find((f) => f.endsWith('.tgz')) ?? '';
    const installed = join(app, 'node_modules', 'distillery');
    await mkdir(installed, {recursive: true});
    execFileSync('tar', ['-xzf', join(app, tarball), '-C', installed, '--strip-components=1']);
    await symlink(join(REPO, 'node_modules'), join(installed, 'node_modules'), 'dir');
    await writeFile(join(app, 'package.json'), JSON.stringify({name: 'scratch', type: 'module', private: true}));
    await writeFile(join(app, 'my-nodes.ts'), NODES_TS);
    await writeFile(join(app, 'p.yaml'), PIPELINE);
    await writeFile(join(app, 'main.ts'), MAIN_TS);
    await writeFile(
      join(app, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, noUncheckedIndexedAccess: true,
          skipLibCheck: true, types: ['node'], typeRoots: [join(REPO, 'node_modules', '@types')],
        },
        files: ['main.ts', 'my-nodes.ts'],
      }),
    );
  });
  after(async () => rm(app, {recursive: true, force: true}));

  const env = {...process.env, DISTILLERY_BACKEND: 'cpu', NODE_OPTIONS: ''};

  it('ships the build, its declarations and the sources the cache keys hash', async () => {
    const installed = join(app, 'node_modules', 'distillery');
    for (const file of ['dist/runner/library.js', 'dist/runner/library.d.ts', 'dist/nodes/api.d.ts', 'nodes/api.ts', 'bin/distillery.js', 'docs/pipeline.schema.json']) {
      assert.ok((await readdir(join(installed, file, '..'))).includes(file.split('/').at(-1) ?? ''), file);
    }
  });

  it('type-checks code that imports distillery and distillery/nodes/api.js against the shipped declarations', () => {
    const result = spawnSync(process.execPath, [TSC, '-p', 'tsconfig.json', '--noEmit'], {cwd: app, encoding: 'utf8'});
    assert.equal(result.status, 0, result.stdout + result.stderr);
  });

  it('the declarations catch a wrong use (so the check above is a real one)', async () => {
    await writeFile(join(app, 'wrong.ts'), "import {loadPipeline} from 'distillery';\nexport const plan: number = await loadPipeline(42);\n");
    const result = spawnSync(process.execPath, [TSC, '--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--skipLibCheck', '--types', 'node', '--typeRoots', join(REPO, 'node_modules', '@types'), 'wrong.ts'], {cwd: app, encoding: 'utf8'});
    assert.notEqual(result.status, 0);
    assert.match(result.stdout, /wrong\.ts\(2,\d+\): error TS2345: Argument of type 'number' is not assignable to parameter of type 'string'/);
  });

  it('loads, plans, runs and reads the results of a pipeline whose node module is TypeScript, from plain node', async () => {
    execFileSync(process.execPath, [TSC, '-p', 'tsconfig.json', '--outDir', 'out'], {cwd: app, stdio: 'pipe'});
    const run = spawnSync(process.execPath, ['out/main.js', 'p.yaml'], {cwd: app, env, encoding: 'utf8'});
    assert.equal(run.status, 0, run.stderr);
    const out = JSON.parse(run.stdout) as {before: string[]; status: string; counts: {ran: number}; events: string[]; runId: string; rows: [string, number][]};
    assert.deepEqual(out.before, ['run', 'run', 'run']);
    assert.equal(out.status, 'ok');
    assert.equal(out.counts.ran, 3);
    assert.deepEqual(out.events, ['run-started', 'run-finished']);
    assert.deepEqual(out.rows, [['t{factor=1}', 6], ['t{factor=2}', 12]]);
    assert.ok((await readdir(join(app, '.distillery', 'runs'))).includes(out.runId), 'the run is recorded as by the CLI');
    // The installed command reads the same cache: everything is cached now.
    const cli = spawnSync(process.execPath, ['node_modules/distillery/bin/distillery.js', 'results', 'p.yaml', '--format', 'csv'], {cwd: app, env, encoding: 'utf8'});
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal(cli.stdout, 'instance,factor,status,total\nt{factor=1},1,done,6\nt{factor=2},2,done,12\n');
  });

  it('the installed command keeps one copy of each module: a cached run\'s modules come from one file, all paths lead there', async () => {
    const installed = join(app, 'node_modules', 'distillery');
    const cli = (...args: string[]) => spawnSync(process.execPath, ['node_modules/distillery/bin/distillery.js', ...args], {cwd: app, env, encoding: 'utf8'});
    // The build put the modules of a cached run in dist/cli-core.js; their own files re-export it.
    for (const file of ['cache/local-store.js', 'runner/executor.js', 'runner/commands/run.js', 'runner/stored-analysis.js']) {
      assert.match(await readFile(join(installed, 'dist', file), 'utf8'), /^\/\/ Re-export written by scripts\/bundle-cli\.mjs:.*\nexport \{.*\} from '(\.\.\/)+cli-core\.js';\n$/, file);
    }
    assert.doesNotMatch(await readFile(join(installed, 'dist', 'runner', 'commands', 'cache.js'), 'utf8'), /Re-export/, 'a module outside the bundle keeps its code');
    // Imported by its own path or through the bundle, a class is the same object.
    const viaPath = (await import(pathToFileURL(join(installed, 'dist', 'cache', 'local-store.js')).href)) as {LocalStore: unknown; CacheFolderError: unknown};
    const viaOther = (await import(pathToFileURL(join(installed, 'dist', 'cache', 'cache-marker.js')).href)) as {CacheFolderError: unknown};
    assert.equal(viaPath.CacheFolderError, viaOther.CacheFolderError);
    // A command outside the bundle throws the bundle's error class, which the dispatcher in the bundle recognises:
    // a message and exit code 2, not an internal error.
    await writeFile(join(app, 'not-a-folder'), '');
    const refused = cli('cache', 'ls', '--cache-dir', 'not-a-folder');
    assert.equal(refused.status, 2, refused.stderr);
    assert.match(refused.stderr, /is a file, not a folder/);
    assert.doesNotMatch(refused.stderr, /internal error/);
    // A run that computes (its workers load the bundle through the re-exports; the source instance is shared with the
    // run above), then a fully cached one.
    await writeFile(join(app, 'q.yaml'), PIPELINE.replace('name: scratch', 'name: scratch-q').replace('[1, 2]', '[5, 6]'));
    const first = cli('run', 'q.yaml');
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /ok: 2 ran, 1 cached, 0 failed, 0 skipped/);
    const again = cli('run', 'q.yaml');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /ok: 0 ran, 3 cached, 0 failed, 0 skipped/);
  });

  it('a TypeScript module that does not compile is a located error, not a stack trace', async () => {
    await writeFile(join(app, 'broken.ts'), 'export default [ {type: "x" as const, outputs: {}, run() {} ;\n');
    await writeFile(join(app, 'bad.yaml'), 'name: bad\nimports: [./broken.ts]\nnodes:\n  a: {type: x}\n');
    const run = spawnSync(process.execPath, ['node_modules/distillery/bin/distillery.js', 'validate', 'bad.yaml'], {cwd: app, env, encoding: 'utf8'});
    assert.equal(run.status, 2);
    assert.match(run.stderr, /bad\.yaml:2:\d+ cannot import "\.\/broken\.ts": Transform failed with 1 error: \S*broken\.ts:1:\d+: ERROR: Expected "\}" but found ";"/);
    assert.doesNotMatch(run.stderr, /\n\s+at /);
  });
});
