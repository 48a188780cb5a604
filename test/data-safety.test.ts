/**
 * Data safety: no command deletes or changes a file it did not create. Every case runs against folders holding user
 * files next to (or instead of) the cache: a cache folder must carry its marker before anything in it is cleaned,
 * report folders are named one to one and only lose what a publication put there, a pipeline name cannot point
 * outside its folder, and `cache gc` during a run never removes what the run reads.
 */
import {after, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {mkdir, readdir, readFile, rm, stat, writeFile} from 'node:fs/promises';
import {hostname} from 'node:os';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {fileURLToPath} from 'node:url';
import {main} from '../runner/cli.js';
import {LocalStore} from '../cache/local-store.js';
import {CACHEDIR_TAG, VERSION_FILE} from '../cache/cache-marker.js';
import {folderName, folderNames} from '../runner/publish-reports.js';
import {makeRig} from './execute-rig.js';
import type {Rig} from './execute-rig.js';
import {snapshot, writeUserFiles} from './user-files.js';
import {put, testKey} from './cache-conformance.js';

const rigs: Rig[] = [];
after(async () => {
  await Promise.all(rigs.map((r) => r.cleanup()));
});

async function rig(): Promise<Rig> {
  const r = await makeRig();
  rigs.push(r);
  return r;
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in this process with the rig as working directory. */
async function cli(r: Rig, args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<Outcome> {
  const stdout = new Capture();
  const stderr = new Capture();
  const code = await main(args, {stdout, stderr, cwd: r.dir, env: {...process.env, DISTILLERY_CACHE: '', DISTILLERY_BACKEND: 'cpu', ...env}});
  return {code, stdout: stdout.text, stderr: stderr.text};
}

const REPO = fileURLToPath(new URL('..', import.meta.url));
const TSX = import.meta.resolve('tsx');

/** The CLI as a separate process (for runs that must overlap with a command of this process). */
function spawnCli(r: Rig, args: readonly string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', TSX, join(REPO, 'runner/cli-main.ts'), ...args], {
      cwd: r.dir,
      env: {...process.env, DISTILLERY_CACHE: '', DISTILLERY_BACKEND: 'cpu'},
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({code: code ?? -1, stdout, stderr}));
  });
}

/** A two-node pipeline of toy nodes (a source and a consumer of it). */
function pipeline(r: Rig, name?: string): string {
  return `${name === undefined ? '' : `name: ${JSON.stringify(name)}\n`}imports: [./toy-nodes.mjs]
nodes:
  src: {type: toy-source, with: {value: 3, log: ${JSON.stringify(r.log)}}}
  rep: {type: toy-report, in: {a: src}}
`;
}

describe('a folder that is not a cache is never changed', () => {
  const commands: ReadonlyArray<readonly string[]> = [
    ['run', 'p.yaml'],
    ['cache', 'ls'],
    ['cache', 'verify'],
    ['cache', 'verify', '--repair'],
    ['cache', 'gc', '--max-size', '0'],
    ['cache', 'gc', 'p.yaml'],
    ['plan', 'p.yaml'],
  ];
  for (const args of commands) {
    it(`distillery ${args.join(' ')} --cache-dir <a folder of user files>: exit 2, nothing touched`, async () => {
      const r = await rig();
      await writeFile(join(r.dir, 'p.yaml'), pipeline(r));
      const home = join(r.dir, 'home');
      await mkdir(home);
      await writeUserFiles(home);
      const before = await snapshot(home);
      const result = await cli(r, [...args, '--cache-dir', 'home']);
      assert.equal(result.code, 2, result.stdout + result.stderr);
      assert.match(result.stderr, /home is not a distillery cache \(it has no CACHEDIR\.TAG and distillery-cache\.json\) and is not empty/);
      assert.match(result.stderr, /hint: point --cache-dir/);
      assert.doesNotMatch(result.stderr, /\n\s+at /);
      assert.deepEqual(await snapshot(home), before);
    });
  }

  it('DISTILLERY_CACHE pointing at user files is refused the same way', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipeline(r));
    const home = join(r.dir, 'home');
    await mkdir(home);
    await writeUserFiles(home);
    const before = await snapshot(home);
    const result = await cli(r, ['run', 'p.yaml'], {DISTILLERY_CACHE: home});
    assert.equal(result.code, 2);
    assert.deepEqual(await snapshot(home), before);
    assert.deepEqual(await r.computed(), []);
  });

  it('a cache location that is a file: exit 2 with a message, the file unchanged', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipeline(r));
    await writeFile(join(r.dir, 'cachefile'), 'mine');
    for (const args of [['run', 'p.yaml'], ['cache', 'ls'], ['cache', 'gc']]) {
      const result = await cli(r, [...args, '--cache-dir', 'cachefile']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /cachefile is a file, not a folder/);
    }
    assert.equal(await readFile(join(r.dir, 'cachefile'), 'utf8'), 'mine');
  });

  it('a cache of an unknown format version is refused', async () => {
    const r = await rig();
    const root = join(r.dir, 'c');
    await LocalStore.open(root);
    await writeFile(join(root, VERSION_FILE), '{"format": 2}\n');
    const result = await cli(r, ['cache', 'gc', '--cache-dir', 'c']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /has format 2; this distillery reads format 1/);
  });
});

describe('creating and adopting caches', () => {
  it('a new or empty folder becomes a marked cache; reading a missing one creates nothing', async () => {
    const r = await rig();
    const ls = await cli(r, ['cache', 'ls', '--cache-dir', 'nothing-here']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /^0 entries/);
    await assert.rejects(stat(join(r.dir, 'nothing-here')), {code: 'ENOENT'});
    await mkdir(join(r.dir, 'empty'));
    await writeFile(join(r.dir, 'p.yaml'), pipeline(r));
    for (const dir of ['empty', 'new/deeper']) {
      const result = await cli(r, ['run', 'p.yaml', '--cache-dir', dir]);
      assert.equal(result.code, 0, result.stderr);
      const tag = await readFile(join(r.dir, dir, CACHEDIR_TAG), 'utf8');
      // The Cache Directory Tagging spec: the file starts with exactly this signature.
      assert.ok(tag.startsWith('Signature: 8a477f597d28d172789f06886806bc55'));
      assert.deepEqual(JSON.parse(await readFile(join(r.dir, dir, VERSION_FILE), 'utf8')), {format: 1});
    }
  });

  it('a cache made before the marker existed is read as it is and marked by the first command that writes', async () => {
    const r = await rig();
    const root = join(r.dir, 'old');
    const store = await LocalStore.open(root);
    await put(store, testKey('legacy'), 'kept', 10);
    await rm(join(root, CACHEDIR_TAG));
    await rm(join(root, VERSION_FILE));
    await rm(join(root, 'leases'), {recursive: true});
    const ls = await cli(r, ['cache', 'ls', '--cache-dir', 'old']);
    assert.equal(ls.code, 0, ls.stderr);
    assert.match(ls.stdout, /1 entries/);
    await assert.rejects(stat(join(root, CACHEDIR_TAG)), {code: 'ENOENT'});
    const gc = await cli(r, ['cache', 'gc', '--cache-dir', 'old']);
    assert.equal(gc.code, 0, gc.stderr);
    await stat(join(root, CACHEDIR_TAG));
    assert.equal((await (await LocalStore.open(root)).get(testKey('legacy'))).status, 'hit');
  });

  it('inside a marked cache, only paths in the store\'s own patterns are removed', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipeline(r));
    const root = join(r.dir, 'c');
    const store = await LocalStore.open(root);
    // User files with names that are not the store's: at the top, in tmp/ and locks/, and in a shard folder.
    const mine = ['notes.md', 'tmp/draft.txt', 'tmp/host.1.abc/old.txt', 'locks/readme.txt', 'ab/not-an-entry/x.txt', 'ab/cd00000000000000/y.txt'];
    for (const path of mine) {
      await mkdir(join(root, path, '..'), {recursive: true});
      await writeFile(join(root, path), path);
    }
    // A staging folder of a dead process, named as the store names them: this one is cleaned.
    const hostTag = hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
    const dead = join(root, 'tmp', `${hostTag}.999999999.0123456789ab`);
    await mkdir(dead);
    await put(store, testKey('entry'), 'e', 5);
    for (const args of [['run', 'p.yaml'], ['cache', 'verify', '--repair'], ['cache', 'gc', '--max-size', '0']]) {
      const result = await cli(r, [...args, '--cache-dir', 'c']);
      assert.ok(result.code === 0, `${args.join(' ')}: ${result.stderr}`);
    }
    for (const path of mine) assert.equal(await readFile(join(root, path), 'utf8'), path);
    await assert.rejects(stat(dead), {code: 'ENOENT'});
    assert.deepEqual(await (await LocalStore.open(root)).list(), []);
  });
});

describe('pipeline names cannot reach outside their folder', () => {
  for (const name of ['..', '.', '../x', 'a/b', '.hidden', '']) {
    it(`name: ${JSON.stringify(name)} is a located error, and run leaves .distillery/ intact`, async () => {
      const r = await rig();
      await writeFile(join(r.dir, 'p.yaml'), pipeline(r, name));
      await mkdir(join(r.dir, '.distillery', 'reports', 'other'), {recursive: true});
      await writeFile(join(r.dir, '.distillery', 'reports', 'other', 'page.md'), 'keep');
      await writeFile(join(r.dir, '.distillery', 'mine.txt'), 'keep');
      const before = await snapshot(join(r.dir, '.distillery'));
      const result = await cli(r, ['run', 'p.yaml']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: p\.yaml:1:7 the pipeline name .* cannot be a folder name\n/);
      assert.match(result.stderr, /hint: the name is the folder of its reports/);
      assert.deepEqual(await snapshot(join(r.dir, '.distillery')), before);
      assert.deepEqual(await r.computed(), []);
    });
  }

  it('a file name that makes no folder name (..yaml) needs a name:', async () => {
    const r = await rig();
    await writeFile(join(r.dir, '..yaml'), pipeline(r));
    const result = await cli(r, ['validate', '..yaml']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /error: \.\.yaml:1:1 the pipeline has no name: and its file name gives "\.", which cannot be a folder name/);
  });
});

describe('report folders', () => {
  it('folder names are one to one: ids differing in characters a file name cannot hold get different folders', () => {
    const ids = ['r{x="a/b"}', 'r{x="a:b"}', 'r{x="a b"}', 'r{x="a_b"}', 'r{x="a%2Fb"}', 'r{x="a\\\\b"}'];
    const names = ids.map(folderName);
    assert.equal(new Set(names).size, ids.length, names.join(' '));
    for (const name of names) assert.match(name, /^[A-Za-z0-9._=,{}[\]%-]+$/);
    assert.equal(folderName('report{T=1,alpha=0.3}'), 'report{T=1,alpha=0.3}');
    assert.equal(folderName('expert[2]'), 'expert[2]');
    // Names equal but for case would share a folder on macOS and Windows.
    const folded = [...folderNames(['r{x="A"}', 'r{x="a"}', 'R{x="a"}']).values()].map((n) => n.toLowerCase());
    assert.equal(new Set(folded).size, 3);
    // Very long ids stay within file-name limits and still differ.
    const long = [`r{x="${'y'.repeat(300)}1"}`, `r{x="${'y'.repeat(300)}2"}`].map(folderName);
    assert.ok(long.every((n) => n.length <= 120));
    assert.notEqual(long[0], long[1]);
  });

  it('three report instances whose old folder names collided are all published, each with its own content', async () => {
    const r = await rig();
    await writeFile(
      join(r.dir, 'p.yaml'),
      `name: toy
imports: [./toy-nodes.mjs]
grid: {x: ["a/b", "a:b", "a b"]}
nodes:
  src: {type: toy-source, with: {value: "\${grid.x}"}}
  rep: {type: toy-report, in: {a: src}}
`,
    );
    const result = await cli(r, ['run', 'p.yaml']);
    assert.equal(result.code, 0, result.stderr);
    const base = join(r.dir, '.distillery', 'reports', 'toy');
    const folders = (await readdir(base)).sort();
    assert.equal(folders.length, 3);
    const pages = await Promise.all(folders.map((f) => readFile(join(base, f, 'page.md'), 'utf8')));
    assert.deepEqual(pages.sort(), ['# value a b\n', '# value a/b\n', '# value a:b\n']);
    assert.equal((result.stdout.match(/^report: /gm) ?? []).length, 3);
  });

  it('a new publication removes only what the last one wrote; a folder distillery did not write is left alone', async () => {
    const r = await rig();
    await writeFile(join(r.dir, 'p.yaml'), pipeline(r, 'toy'));
    const first = await cli(r, ['run', 'p.yaml']);
    assert.equal(first.code, 0, first.stderr);
    const dir = join(r.dir, '.distillery', 'reports', 'toy');
    await writeFile(join(dir, 'my-notes.md'), 'mine');
    const again = await cli(r, ['run', 'p.yaml', '--set', 'nodes.src.with.value=4']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await readFile(join(dir, 'page.md'), 'utf8'), '# value 4\n');
    assert.equal(await readFile(join(dir, 'my-notes.md'), 'utf8'), 'mine');
    // A folder of the same name that a person made: not published into, not touched, and said so.
    await writeFile(join(r.dir, 'q.yaml'), pipeline(r, 'theirs'));
    const theirs = join(r.dir, '.distillery', 'reports', 'theirs');
    await mkdir(theirs, {recursive: true});
    await writeFile(join(theirs, 'page.md'), 'their page');
    const before = await snapshot(theirs);
    const other = await cli(r, ['run', 'q.yaml']);
    assert.equal(other.code, 0, other.stderr);
    assert.match(other.stderr, /warning: report of rep not published: .*theirs exists and was not written by distillery/);
    assert.deepEqual(await snapshot(theirs), before);
  });
});

describe('cache gc during a run', () => {
  it('keeps the entries a running run reads; the run succeeds; a later gc collects them', async () => {
    const r = await rig();
    // `cat` reads its file input only after sleeping, so the gc below runs while the input is needed.
    await writeFile(
      join(r.dir, 'p.yaml'),
      `name: toy
imports: [./toy-nodes.mjs]
nodes:
  file: {type: toy-file, with: {text: hello, log: ${JSON.stringify(r.log)}}}
  cat: {type: toy-cat, in: {blob: file}, with: {sleepMs: 1500, log: ${JSON.stringify(r.log)}}}
`,
    );
    const running = spawnCli(r, ['run', 'p.yaml']);
    const until = Date.now() + 30_000;
    while (!(await r.computed()).includes('cat')) {
      if (Date.now() > until) throw new Error('cat never started');
      await new Promise((res) => setTimeout(res, 20));
    }
    const gc = await cli(r, ['cache', 'gc', '--max-size', '0']);
    assert.equal(gc.code, 0, gc.stderr);
    assert.match(gc.stdout, /removed 0 entries .*; kept 1 in use by a running run/);
    const result = await running;
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.deepEqual(await r.computed(), ['file', 'cat']);
    const later = await cli(r, ['cache', 'gc', '--max-size', '0']);
    assert.match(later.stdout, /removed 2 entries/);
  });
});
