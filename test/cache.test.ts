/** The cache room: the conformance suite on the local store, plus crash, corruption and multi-process behaviour. */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {chmod, mkdtemp, readdir, readFile, rm, stat, symlink, utimes, writeFile} from 'node:fs/promises';
import {hostname, tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {LocalStore} from '../cache/local-store.js';
import {parseByteSize, formatByteSize} from '../cache/byte-size.js';
import {cacheConformance, put, testKey} from './cache-conformance.js';
import {ownScope, processStartTime} from '../cache/owner-stamp.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const STORE_URL = pathToFileURL(join(REPO, 'cache/local-store.ts')).href;

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-cache-'));
  dirs.push(dir);
  return dir;
}

cacheConformance('LocalStore', async () => LocalStore.open(join(await tempDir(), 'cache')));

/** Runs a TypeScript snippet in a child process (through tsx); resolves to its exit code/signal and stdout. */
function runChild(
  dir: string,
  source: string,
  onStdout?: (text: string, child: ReturnType<typeof spawn>) => void,
): Promise<{code: number | null; signal: NodeJS.Signals | null; stdout: string}> {
  return new Promise((resolve, reject) => {
    const script = join(dir, `child-${Math.random().toString(16).slice(2)}.mts`);
    writeFile(script, source).then(() => {
      const child = spawn(process.execPath, ['--import', 'tsx', script], {cwd: REPO, stdio: ['ignore', 'pipe', 'inherit']});
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => {
        stdout += d.toString();
        onStdout?.(stdout, child);
      });
      child.on('error', reject);
      child.on('exit', (code, signal) => resolve({code, signal, stdout}));
    }, reject);
  });
}

describe('LocalStore on disk', () => {
  it('kill -9 during a write leaves no entry, and the next open cleans the temp folder', async () => {
    const dir = await tempDir();
    const root = join(dir, 'cache');
    const key = testKey('crash');
    const result = await runChild(
      dir,
      `import {LocalStore} from ${JSON.stringify(STORE_URL)};
       import {writeFile} from 'node:fs/promises';
       const store = await LocalStore.open(${JSON.stringify(root)});
       const lock = await store.lock(${JSON.stringify(key)});
       const staging = await store.stage(${JSON.stringify(key)});
       await writeFile(staging.dir + '/out.json', '"half"');
       process.stdout.write('staged\\n');
       await new Promise((r) => setTimeout(r, 60_000));`,
      (out, child) => {
        if (out.includes('staged')) child.kill('SIGKILL');
      },
    );
    assert.equal(result.signal, 'SIGKILL');
    assert.equal((await readdir(join(root, 'tmp'))).length, 1);
    const store = await LocalStore.open(root);
    assert.deepEqual(await readdir(join(root, 'tmp')), []);
    assert.deepEqual(await store.get(key), {status: 'miss'});
    // The dead process's lock does not block: it is taken over at once.
    const held = await store.tryLock(key);
    assert.ok(held !== undefined);
    await held.release();
  });

  it('a corrupted entry is reported, removed and can be recomputed', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const key = testKey('recompute');
    const dir = await put(store, key, 'v1', 10);
    await rm(join(dir, 'blob.bin'));
    const lookup = await store.get(key);
    assert.deepEqual(lookup, {status: 'corrupt', reason: 'blob.bin: missing'});
    await put(store, key, 'v2', 10);
    const again = await store.get(key);
    assert.equal(again.status, 'hit');
    if (again.status === 'hit') assert.equal(JSON.parse(await readFile(join(again.entry.dir, 'out.json'), 'utf8')), 'v2');
  });

  it('two processes locking one key compute it once; the second takes the hit', async () => {
    const dir = await tempDir();
    const root = join(dir, 'cache');
    const log = join(dir, 'computed.log');
    const key = testKey('shared');
    const source = `import {LocalStore} from ${JSON.stringify(STORE_URL)};
      import {appendFile, writeFile} from 'node:fs/promises';
      const store = await LocalStore.open(${JSON.stringify(root)});
      const key = ${JSON.stringify(key)};
      const lock = await store.lock(key);
      try {
        const hit = await store.get(key);
        if (hit.status === 'hit') { process.stdout.write('hit'); }
        else {
          await appendFile(${JSON.stringify(log)}, 'computed\\n');
          await new Promise((r) => setTimeout(r, 150));
          const staging = await store.stage(key);
          await writeFile(staging.dir + '/out.json', '1');
          await staging.commit({outputs: {out: {format: 'json', file: 'out.json'}}, metrics: {},
            timings: {startedAt: new Date().toISOString(), seconds: 0}, producer: {nodeId: 'n', type: 't', host: 'h', distilleryVersion: '0'}});
          process.stdout.write('computed');
        }
      } finally { await lock.release(); }`;
    const results = await Promise.all([runChild(dir, source), runChild(dir, source)]);
    assert.deepEqual(results.map((r) => r.code), [0, 0]);
    assert.deepEqual(results.map((r) => r.stdout).sort(), ['computed', 'hit']);
    assert.equal(await readFile(log, 'utf8'), 'computed\n');
  });

  it('gc keeps leased keys while the lease is held, and clears leases of dead runs', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const [a, b] = [testKey('lease-a'), testKey('lease-b')];
    await put(store, a, 'a', 10);
    await put(store, b, 'b', 10);
    const lease = await store.lease([a]);
    const during = await store.gc({maxBytes: 0});
    assert.deepEqual(during.removed, [b]);
    assert.equal(during.leasedKept, 1);
    // A lease of a process that no longer runs (pid reused or gone), and one of another host silent for an hour.
    const leases = join(root, 'leases');
    const dead = {owner: {host: 'x', pid: 999999999, scope: ownScope(), started: '1', token: 't'}, keys: [a]};
    await writeFile(join(leases, 'x.999999999.0123456789ab.json'), JSON.stringify(dead));
    const far = {owner: {host: 'elsewhere', pid: 1, scope: 'elsewhere||', started: '1', token: 't'}, keys: [a]};
    await writeFile(join(leases, 'elsewhere.1.0123456789ab.json'), JSON.stringify(far));
    const hourAgo = new Date(Date.now() - 3600_000);
    await utimes(join(leases, 'elsewhere.1.0123456789ab.json'), hourAgo, hourAgo);
    // Not a lease name: never removed.
    await writeFile(join(leases, 'README'), 'mine');
    await lease.release();
    const after = await store.gc({maxBytes: 0});
    assert.deepEqual(after.removed, [a]);
    assert.equal(after.leasedKept, 0);
    assert.equal(after.strayRemoved, 2);
    assert.deepEqual(await readdir(leases), ['README']);
  });

  it('within a run, a hit touches its entry once per touch interval, through the touch memo of the leased keys', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const [a, b] = [testKey('memo-a'), testKey('memo-b')];
    const dirA = await put(store, a, 'a');
    const dirB = await put(store, b, 'b');
    const longAgo = new Date(Date.now() - 10 * 24 * 3600_000);
    const usedAt = async (dir: string): Promise<number> => (await stat(join(dir, '.used'))).mtimeMs;
    const age = async (dir: string): Promise<void> => utimes(join(dir, '.used'), longAgo, longAgo);
    await age(dirA);
    await age(dirB);
    // The first run over [a, b] touches both, and remembers that it did.
    const first = await store.lease([a, b]);
    assert.equal((await store.get(a)).status, 'hit');
    assert.equal((await store.get(b)).status, 'hit');
    await first.release();
    assert.ok((await usedAt(dirA)) > longAgo.getTime() + 1000);
    const memos = await readdir(join(root, 'memo'));
    assert.equal(memos.length, 1);
    // The next run within the interval does not touch them again...
    await age(dirA);
    const second = await store.lease([a, b]);
    assert.equal((await store.get(a)).status, 'hit');
    await second.release();
    assert.ok(Math.abs((await usedAt(dirA)) - longAgo.getTime()) < 2);
    // ...a lookup outside any lease does, as does a run over another set of keys (another memo)...
    assert.equal((await store.get(a)).status, 'hit');
    assert.ok((await usedAt(dirA)) > longAgo.getTime() + 1000);
    await age(dirA);
    const other = await store.lease([a]);
    assert.equal((await store.get(a)).status, 'hit');
    await other.release();
    assert.ok((await usedAt(dirA)) > longAgo.getTime() + 1000);
    // ...and so does a run whose memo is damaged: it is then only not used.
    const memoFile = join(root, 'memo', memos[0] ?? '');
    await writeFile(memoFile, '{"format": 1, "touched": {');
    await age(dirB);
    const third = await store.lease([a, b]);
    assert.equal((await store.get(b)).status, 'hit');
    await third.release();
    assert.ok((await usedAt(dirB)) > longAgo.getTime() + 1000);
    // A run that touched only some of its keys says nothing of the others: it writes no memo.
    assert.equal(await readFile(memoFile, 'utf8'), '{"format": 1, "touched": {');
    // A hit still checks everything: the memo only saves touches.
    await rm(join(dirB, 'out.json'), {force: true});
    const fourth = await store.lease([a, b]);
    assert.equal((await store.get(b)).status, 'corrupt');
    await fourth.release();
  });

  it('gc removes touch memos no run has written for a week, and nothing else in their folder', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const a = testKey('memo-gc');
    await put(store, a, 'a');
    const lease = await store.lease([a]);
    await store.get(a);
    await lease.release();
    const memoDir = join(root, 'memo');
    const [memo] = await readdir(memoDir);
    assert.ok(memo !== undefined);
    await writeFile(join(memoDir, 'notes.txt'), 'mine');
    await writeFile(join(memoDir, '0123456789abcdef.json'), '{}');
    const weeksAgo = new Date(Date.now() - 8 * 24 * 3600_000);
    for (const name of ['notes.txt', '0123456789abcdef.json']) await utimes(join(memoDir, name), weeksAgo, weeksAgo);
    const report = await store.gc({keep: new Set([a])});
    assert.equal(report.strayRemoved, 1);
    assert.deepEqual((await readdir(memoDir)).sort(), [memo, 'notes.txt'].sort());
  });

  it('a store opened read-only creates nothing, removes nothing and refuses to write', async () => {
    const dir = await tempDir();
    const missing = await LocalStore.open(join(dir, 'missing'), {mode: 'read'});
    assert.deepEqual(await missing.list(), []);
    assert.deepEqual(await missing.get(testKey('x')), {status: 'miss'});
    assert.deepEqual(await readdir(dir), []);
    const root = join(dir, 'cache');
    const key = testKey('ro');
    const entry = await put(await LocalStore.open(root), key, 'v', 10);
    await chmod(join(entry, 'blob.bin'), 0o644);
    await writeFile(join(entry, 'blob.bin'), 'short');
    const reader = await LocalStore.open(root, {mode: 'read'});
    assert.equal((await reader.get(key)).status, 'corrupt');
    assert.equal((await reader.get(key)).status, 'corrupt', 'a reader reports damage but does not remove the entry');
    await assert.rejects(reader.stage(key), /read-only/);
    await assert.rejects(reader.gc({}), /read-only/);
  });

  it('a lock whose pid was reused by another process is taken at once; one of another scope after its heartbeat stops', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root, {lock: {staleMs: 60_000}});
    const key = testKey('reused');
    const path = join(root, 'locks', `${key}.lock`);
    // Our own scope and a live pid (this process, then the parent), but a start time that is not theirs: pid reuse.
    for (const pid of [process.pid, process.ppid]) {
      await writeFile(path, JSON.stringify({host: hostname(), pid, scope: ownScope(), started: '1', token: 'old'}));
      const held = await store.tryLock(key);
      assert.ok(held !== undefined, `lock of reused pid ${pid} not taken`);
      await held.release();
    }
    // The same pid with its true start time is alive: not taken.
    const alive = {host: hostname(), pid: process.ppid, scope: ownScope(), started: processStartTime(process.ppid), token: 'live'};
    await writeFile(path, JSON.stringify(alive));
    assert.equal(await store.tryLock(key), undefined);
    // Another scope (another container or host): alive while its heartbeat is fresh, dead after staleMs of silence.
    await writeFile(path, JSON.stringify({...alive, scope: 'elsewhere'}));
    assert.equal(await store.tryLock(key), undefined);
    const old = new Date(Date.now() - 61_000);
    await utimes(path, old, old);
    const taken = await store.tryLock(key);
    assert.ok(taken !== undefined);
    await taken.release();
  });

  it('an empty lock file left by a failed write costs seconds, not the stale period', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root, {lock: {staleMs: 600_000}});
    const key = testKey('empty');
    const path = join(root, 'locks', `${key}.lock`);
    await writeFile(path, '');
    // Fresh: its writer may be between creating and filling it.
    assert.equal(await store.tryLock(key), undefined);
    const old = new Date(Date.now() - 3_000);
    await utimes(path, old, old);
    const t0 = Date.now();
    const held = await store.lock(key);
    assert.ok(Date.now() - t0 < 1_000);
    await held.release();
  });

  it('a waiter is told who holds the lock', async () => {
    const store = await LocalStore.open(join(await tempDir(), 'cache'));
    const key = testKey('holder');
    const held = await store.lock(key);
    const told: string[] = [];
    const waiting = store.lock(key, undefined, (holder) => told.push(holder));
    // Poll rather than sleep a fixed time: on a loaded machine the waiter's first look can take a while.
    for (let waited = 0; told.length === 0 && waited < 10_000; waited += 20) await new Promise((r) => setTimeout(r, 20));
    assert.deepEqual(told, [`pid ${process.pid} on ${hostname()}`]);
    await held.release();
    await (await waiting).release();
    assert.equal(told.length, 1);
  });

  it('gc clears dead owners\' locks and lock debris, and keeps live locks', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const locks = join(root, 'locks');
    const [dead, live] = [testKey('dead-lock'), testKey('live-lock')];
    await writeFile(join(locks, `${dead}.lock`), JSON.stringify({host: hostname(), pid: 999999999, scope: ownScope(), started: '1', token: 't'}));
    const held = await store.lock(live);
    const debris = `${dead}.lock.0123456789ab.tmp`;
    await writeFile(join(locks, debris), '');
    const old = new Date(Date.now() - 120_000);
    await utimes(join(locks, debris), old, old);
    await writeFile(join(locks, 'notes.txt'), 'mine');
    const report = await store.gc({});
    assert.equal(report.strayRemoved, 2);
    assert.deepEqual((await readdir(locks)).sort(), [`${live}.lock`, 'notes.txt'].sort());
    await held.release();
  });

  it('a hit checks kind and time as well as size: a symlink or a file changed after the commit is damage', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const key = testKey('kinds');
    const dir = await put(store, key, 'v', 16);
    // Committed files are read-only.
    assert.equal((await stat(join(dir, 'blob.bin'))).mode & 0o222, 0);
    // A same-size symlink instead of the file: sizes match (stat follows links), yet it is not what was committed.
    const elsewhere = join(root, '..', 'elsewhere.bin');
    await writeFile(elsewhere, Buffer.alloc(16, 1));
    await rm(join(dir, 'blob.bin'));
    await symlink(elsewhere, join(dir, 'blob.bin'));
    assert.deepEqual(await store.get(key), {status: 'corrupt', reason: 'blob.bin: not a regular file'});
    // Rewritten in place with the same size (what a node writing into its input does; root ignores the read-only bit).
    const again = await put(store, key, 'v', 16);
    await new Promise((r) => setTimeout(r, 20));
    await chmod(join(again, 'blob.bin'), 0o644);
    await writeFile(join(again, 'blob.bin'), Buffer.alloc(16, 2));
    assert.deepEqual(await store.get(key), {status: 'corrupt', reason: 'blob.bin: changed after it was committed'});
    // Reading, touching its `.used` marker or copying the entry does not count as a change.
    const third = await put(store, key, 'v', 16);
    await readFile(join(third, 'blob.bin'));
    assert.equal((await store.get(key)).status, 'hit');
    assert.equal((await store.get(key)).status, 'hit');
  });

  it('a manifest with a field of the wrong type is a bad entry, and cache ls lists the others', async () => {
    const root = join(await tempDir(), 'cache');
    const store = await LocalStore.open(root);
    const [good, bad] = [testKey('good'), testKey('wrong-type')];
    await put(store, good, 'g');
    const dir = await put(store, bad, 'b');
    const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {producer: Record<string, unknown>};
    manifest.producer['nodeId'] = 5;
    await chmod(join(dir, 'manifest.json'), 0o644);
    await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
    assert.deepEqual((await store.list()).map((e) => e.key), [good]);
    const reader = await LocalStore.open(root, {mode: 'read'});
    assert.deepEqual(await reader.get(bad, {touch: false}), {status: 'corrupt', reason: "manifest producer field 'nodeId' is not a string"});
  });

  it('parses and formats byte sizes', () => {
    assert.equal(parseByteSize('10G'), 10 * 1024 ** 3);
    assert.equal(parseByteSize('1.5k'), 1536);
    assert.equal(parseByteSize('12MiB'), 12 * 1024 ** 2);
    assert.equal(parseByteSize('2048'), 2048);
    assert.equal(parseByteSize('ten'), undefined);
    assert.equal(formatByteSize(1536), '1.5K');
    assert.equal(formatByteSize(17), '17B');
  });
});

process.on('exit', () => {
  // Best effort: temp rigs are small; leave nothing behind in the OS temp dir.
  for (const dir of dirs) void rm(dir, {recursive: true, force: true});
});

describe('manifest shape check', () => {
  const key = 'abcdef0123456789';
  const valid = (): Record<string, unknown> => ({
    version: 1,
    key,
    files: [
      {path: 'out.json', size: 1, hash: '0123456789abcdef'},
      {path: 'sub/weights.bin', size: 8, hash: 'fedcba9876543210'},
    ],
    outputs: {out: {format: 'json', file: 'out.json'}, weights: {format: 'file', file: 'sub/weights.bin'}},
    metrics: {acc: 0.5},
    timings: {startedAt: '2026-01-01T00:00:00.000Z', seconds: 1},
    producer: {nodeId: 'n', type: 't', host: 'h', distilleryVersion: '0.1.0'},
    createdAt: '2026-01-01T00:00:01.000Z',
  });

  it('accepts a well-formed manifest and refuses each kind of damage with its reason', async () => {
    const {checkManifest} = await import('../cache/manifest.js');
    const manifest = valid();
    assert.equal(checkManifest(manifest, key), manifest);
    const file = (path: string) => ({path, size: 1, hash: '0123456789abcdef'});
    const cases: Array<[string, (m: Record<string, unknown>) => void, RegExp]> = [
      ['version', (m) => (m['version'] = 2), /unknown manifest version 2/],
      ['key', (m) => (m['key'] = 'other'), /manifest is for key "other"/],
      ['file list', (m) => (m['files'] = {}), /no file list/],
      ['file record', (m) => (m['files'] = [{path: 'a', size: '1', hash: 'x'}]), /malformed file record/],
      ['absolute', (m) => (m['files'] = [file('/etc/passwd')]), /"\/etc\/passwd" is absolute/],
      ['drive', (m) => (m['files'] = [file('C:x')]), /"C:x" is absolute/],
      ['backslash', (m) => (m['files'] = [file('a\\b')]), /backslash or a control character/],
      ['control', (m) => (m['files'] = [file('a\u0001')]), /backslash or a control character/],
      ['escape', (m) => (m['files'] = [file('a/../../b')]), /escapes the entry/],
      ['dot-dot alone', (m) => (m['files'] = [file('..')]), /escapes the entry/],
      ['empty segment', (m) => (m['files'] = [file('a//b')]), /empty or "\." segment/],
      ['dot alone', (m) => (m['files'] = [file('.')]), /empty or "\." segment/],
      ['twice of two', (m) => (m['files'] = [file('a'), file('a')]), /lists a file twice/],
      ['twice of three', (m) => (m['files'] = [file('a'), file('b'), file('a')]), /lists a file twice/],
      ['outputs', (m) => (m['outputs'] = []), /no outputs/],
      ['output format', (m) => (m['outputs'] = {out: {format: 'yaml', file: 'out.json'}}), /output 'out' is malformed/],
      ['unlisted output', (m) => (m['outputs'] = {out: {format: 'json', file: 'gone.json'}}), /output 'out' names an unlisted file/],
      ['metric', (m) => (m['metrics'] = {acc: '0.5'}), /metric 'acc' is not a number/],
      ['metric named __proto__', (m) => (m['metrics'] = JSON.parse('{"__proto__": "x"}')), /metric '__proto__' is not a number/],
      ['timings', (m) => (m['timings'] = {startedAt: 1, seconds: 1}), /timings are malformed/],
      ['producer', (m) => (m['producer'] = {nodeId: 1, type: 't', host: 'h', distilleryVersion: 'v'}), /producer field 'nodeId'/],
      ['creation time', (m) => (m['createdAt'] = 'yesterday'), /no creation time/],
    ];
    for (const [what, damage, reason] of cases) {
      const damaged = valid();
      damage(damaged);
      const result = checkManifest(damaged, key);
      assert.equal(typeof result, 'string', `${what}: should be refused`);
      assert.match(result as string, reason, what);
    }
  });
});
