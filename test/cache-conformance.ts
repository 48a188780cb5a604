/**
 * The conformance suites. `cacheConformance`: every CacheStore must pass it (the local store, and the local store
 * with each kind of remote behind it). `remoteConformance`: every remote backend under the remote entry protocol
 * (RemoteStore) must pass it. Call them from a `*.test.ts` file with a factory that opens a fresh, empty store.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {chmod, lstat, readFile, rm, stat, symlink, utimes, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {existsSync} from 'node:fs';
import type {CacheEntry, CacheStore, CommitInfo} from '../cache/store.js';
import type {ObjectBackend, ObjectBody} from '../cache/remote-backend.js';
import {RemoteError} from '../cache/remote-backend.js';
import {blobObjectName, entryObject, RemoteStore} from '../cache/remote-store.js';

/** A syntactically valid key (16 hex digits) derived from a label. */
export function testKey(label: string): string {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(label)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0');
}

/** Commit metadata for a test entry with a JSON port `out` in `out.json`. */
export function commitInfo(nodeId: string, metrics: Record<string, number> = {}): CommitInfo {
  return {
    outputs: {out: {format: 'json', file: 'out.json'}},
    metrics,
    timings: {startedAt: new Date().toISOString(), seconds: 0.01},
    producer: {nodeId, type: 'toy', host: 'test', distilleryVersion: '0.0.0'},
  };
}

/** Stages, writes `value` to out.json (plus optional extra bytes) and commits. */
export async function put(store: CacheStore, key: string, value: unknown, extraBytes = 0): Promise<string> {
  const staging = await store.stage(key);
  await writeFile(join(staging.dir, 'out.json'), JSON.stringify(value));
  if (extraBytes > 0) await writeFile(join(staging.dir, 'blob.bin'), Buffer.alloc(extraBytes, 7));
  const entry = await staging.commit(commitInfo(`node-${key.slice(0, 4)}`, {acc: 0.5}));
  return entry.dir;
}

/** What an implementation adds to the basic suite. */
export interface ConformanceOptions {
  /**
   * Opens another store sharing this one's backing, as a second machine (or process) would: the same folder for a
   * local store, a fresh local cache and the same remote for a store with a remote. Enables the sharing tests.
   */
  readonly peer?: (store: CacheStore) => Promise<CacheStore>;
  /** Waits until background work (write-through uploads) of a store is done. */
  readonly settle?: (store: CacheStore) => Promise<void>;
  /** A damaged local entry comes back intact from a remote copy, rather than being a miss. */
  readonly heals?: boolean;
}

/** Registers the suite for one implementation. */
export function cacheConformance(name: string, open: () => Promise<CacheStore>, options: ConformanceOptions = {}): void {
  const settle = async (store: CacheStore): Promise<void> => options.settle?.(store);
  describe(`CacheStore conformance: ${name}`, () => {
    it('misses on an empty store', async () => {
      const store = await open();
      assert.deepEqual(await store.get(testKey('a')), {status: 'miss'});
    });

    it('hits after commit, with the manifest describing files, outputs, metrics and producer', async () => {
      const store = await open();
      const key = testKey('b');
      await put(store, key, {x: 1}, 100);
      const lookup = await store.get(key);
      assert.equal(lookup.status, 'hit');
      if (lookup.status !== 'hit') return;
      const {manifest, dir} = lookup.entry;
      assert.equal(manifest.key, key);
      assert.deepEqual(manifest.files.map((f) => [f.path, f.size]), [['blob.bin', 100], ['out.json', 7]]);
      assert.match(manifest.files[0]?.hash ?? '', /^[0-9a-f]{16}$/);
      assert.deepEqual(manifest.outputs, {out: {format: 'json', file: 'out.json'}});
      assert.deepEqual(manifest.metrics, {acc: 0.5});
      assert.equal(manifest.producer.type, 'toy');
      assert.deepEqual(JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')), {x: 1});
    });

    it('keeps staged files invisible until commit, and discard leaves nothing', async () => {
      const store = await open();
      const key = testKey('c');
      const staging = await store.stage(key);
      await writeFile(join(staging.dir, 'out.json'), '1');
      assert.equal((await store.get(key)).status, 'miss');
      await staging.discard();
      assert.equal((await store.get(key)).status, 'miss');
      assert.deepEqual(await store.list(), []);
    });

    it('a second commit of the same key yields the first entry', async () => {
      const store = await open();
      const key = testKey('d');
      await put(store, key, 'first');
      const dir = await put(store, key, 'second');
      assert.equal(JSON.parse(await readFile(join(dir, 'out.json'), 'utf8')), 'first');
    });

    it(options.heals === true
      ? 'a truncated artifact is healed: the next lookup is a hit with the whole file'
      : 'a truncated artifact is a corrupt miss, removed, and then a plain miss', async () => {
      const store = await open();
      const key = testKey('e');
      const dir = await put(store, key, 'v', 1000);
      await settle(store);
      // Committed files are read-only (root writes them anyway; other users need the mode changed first).
      await chmod(join(dir, 'blob.bin'), 0o644);
      await writeFile(join(dir, 'blob.bin'), 'short');
      const lookup = await store.get(key);
      if (options.heals === true) {
        assert.equal(lookup.status, 'hit');
        if (lookup.status === 'hit') assert.equal((await readFile(join(lookup.entry.dir, 'blob.bin'))).length, 1000);
        return;
      }
      assert.equal(lookup.status, 'corrupt');
      if (lookup.status === 'corrupt') assert.match(lookup.reason, /blob\.bin: size 5, expected 1000/);
      assert.deepEqual(await store.get(key), {status: 'miss'});
    });

    it('a manifest naming a file outside its entry is never a hit', async () => {
      const store = await open();
      const key = testKey('escape');
      const dir = await put(store, key, 'v', 8);
      await settle(store);
      await writeFile(join(dir, '..', 'outside.bin'), Buffer.alloc(8, 1));
      const manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as {files: Array<{path: string}>};
      manifest.files.push({...manifest.files[0], path: '../outside.bin'});
      await writeFile(join(dir, 'manifest.json'), JSON.stringify(manifest));
      const lookup = await store.get(key);
      if (lookup.status === 'hit') {
        assert.equal(options.heals, true);
        assert.ok(lookup.entry.manifest.files.every((f) => !f.path.includes('..')));
      } else {
        assert.equal(lookup.status, 'corrupt');
        if (lookup.status === 'corrupt') assert.match(lookup.reason, /manifest file path "\.\.\/outside\.bin" escapes the entry/);
      }
    });

    it('an entry file replaced by a symlink (to a file outside, of the right size) is not a hit', async () => {
      const store = await open();
      const key = testKey('sym');
      const dir = await put(store, key, 'v', 16);
      await settle(store);
      const outside = join(dir, '..', `outside-${key}.bin`);
      await writeFile(outside, Buffer.alloc(16, 1));
      await rm(join(dir, 'blob.bin'));
      await symlink(outside, join(dir, 'blob.bin'));
      const lookup = await store.get(key);
      if (lookup.status === 'hit') {
        // Only a store that healed the entry from elsewhere may hit, and then with a real file.
        assert.equal(options.heals, true);
        assert.equal((await lstat(join(lookup.entry.dir, 'blob.bin'))).isSymbolicLink(), false);
      } else {
        assert.notEqual(lookup.status, 'miss');
      }
      await rm(outside, {force: true});
    });

    it('a garbled manifest is a corrupt miss', async () => {
      const store = await open();
      const key = testKey('f');
      const dir = await put(store, key, 'v');
      await writeFile(join(dir, 'manifest.json'), '{"version": 1, "key"');
      assert.equal((await store.get(key)).status, 'corrupt');
      assert.equal((await store.get(key)).status, 'miss');
    });

    it('hits check sizes only; verify re-hashes and finds same-size damage', async () => {
      const store = await open();
      const key = testKey('g');
      const dir = await put(store, key, 'v', 64);
      await settle(store);
      // Damage that keeps size and time (bit rot): only re-hashing finds it.
      const before = await stat(join(dir, 'blob.bin'));
      await chmod(join(dir, 'blob.bin'), 0o644);
      await writeFile(join(dir, 'blob.bin'), Buffer.alloc(64, 9));
      // Back to its time, a millisecond early: a Date put back through utimes can land a fraction of a millisecond
      // later than it was, after a manifest written in the same millisecond, and the change would then be seen.
      await utimes(join(dir, 'blob.bin'), before.atime, new Date(before.mtimeMs - 1));
      assert.equal((await store.get(key)).status, 'hit');
      const report = await store.verify();
      assert.equal(report.checked, 1);
      assert.equal(report.problems.length, 1);
      assert.match(report.problems[0]?.reason ?? '', /blob\.bin: content hash/);
      await store.verify({repair: true});
      const after = await store.get(key);
      if (options.heals === true) {
        assert.equal(after.status, 'hit');
        if (after.status === 'hit') assert.deepEqual(await readFile(join(after.entry.dir, 'blob.bin')), Buffer.alloc(64, 7));
      } else {
        assert.equal(after.status, 'miss');
      }
      assert.deepEqual((await store.verify()).problems, []);
    });

    it('lists entries with node id, type and size', async () => {
      const store = await open();
      await put(store, testKey('h1'), 1, 10);
      await put(store, testKey('h2'), 2, 20);
      const list = await store.list();
      assert.deepEqual(list.map((e) => e.key).sort(), [testKey('h1'), testKey('h2')].sort());
      for (const e of list) assert.ok(e.size > 10 && e.type === 'toy' && e.nodeId.startsWith('node-'));
    });

    it('gc keeps referenced keys and evicts least recently used down to max size', async () => {
      const store = await open();
      const [k1, k2, k3] = [testKey('i1'), testKey('i2'), testKey('i3')];
      for (const k of [k1, k2, k3]) {
        await put(store, k, k, 1000);
        await new Promise((r) => setTimeout(r, 20));
      }
      // Use k1 so k2 becomes the least recently used.
      assert.equal((await store.get(k1)).status, 'hit');
      const sizeOfOne = (await store.list())[0]?.size ?? 0;
      const report = await store.gc({maxBytes: sizeOfOne * 2 + 10});
      assert.deepEqual(report.removed, [k2]);
      const kept = await store.gc({keep: new Set([k3])});
      assert.deepEqual(kept.removed, [k1]);
      assert.deepEqual((await store.list()).map((e) => e.key), [k3]);
    });

    it('a key lock excludes a second holder until released', async () => {
      const store = await open();
      const key = testKey('j');
      const held = await store.lock(key);
      assert.equal(await store.tryLock(key), undefined);
      let second = false;
      const waiting = store.lock(key).then((l) => {
        second = true;
        return l;
      });
      await new Promise((r) => setTimeout(r, 50));
      assert.equal(second, false);
      await held.release();
      await (await waiting).release();
      assert.equal(second, true);
    });

    it('a lock wait can be aborted', async () => {
      const store = await open();
      const key = testKey('k');
      const held = await store.lock(key);
      const controller = new AbortController();
      const waiting = store.lock(key, controller.signal);
      controller.abort();
      await assert.rejects(waiting);
      await held.release();
    });

    const peer = options.peer;
    if (peer !== undefined) {
      it('a peer sees an entry the other committed, with the same manifest and bytes', async () => {
        const a = await open();
        const b = await peer(a);
        const key = testKey('p1');
        await put(a, key, {shared: true}, 300);
        await settle(a);
        const seen = await b.get(key);
        assert.equal(seen.status, 'hit');
        const mine = await a.get(key);
        if (seen.status !== 'hit' || mine.status !== 'hit') return;
        assert.deepEqual(seen.entry.manifest.files, mine.entry.manifest.files);
        assert.deepEqual(seen.entry.manifest.outputs, mine.entry.manifest.outputs);
        assert.deepEqual(seen.entry.manifest.producer, mine.entry.manifest.producer);
        assert.deepEqual(await readFile(join(seen.entry.dir, 'blob.bin')), await readFile(join(mine.entry.dir, 'blob.bin')));
      });

      it('a peer does not see staged files before their commit', async () => {
        const a = await open();
        const b = await peer(a);
        const key = testKey('p2');
        const staging = await a.stage(key);
        await writeFile(join(staging.dir, 'out.json'), '1');
        assert.equal((await b.get(key)).status, 'miss');
        await staging.discard();
        await settle(a);
        assert.equal((await b.get(key)).status, 'miss');
      });

      it('two peers committing one key at once (different bytes) both succeed and a third sees one sound entry', async () => {
        const a = await open();
        const b = await peer(a);
        const key = testKey('p3');
        await Promise.all([put(a, key, 'from a', 2000), put(b, key, 'from b, longer', 3000)]);
        await Promise.all([settle(a), settle(b)]);
        for (const store of [a, b]) assert.equal((await store.get(key)).status, 'hit');
        const c = await peer(a);
        const seen = await c.get(key);
        assert.equal(seen.status, 'hit');
        if (seen.status !== 'hit') return;
        const value = JSON.parse(await readFile(join(seen.entry.dir, 'out.json'), 'utf8')) as string;
        assert.ok(value === 'from a' || value === 'from b, longer');
        assert.deepEqual((await c.verify()).problems, []);
      });
    }
  });
}

/** A remote under test: the store, and a fresh local cache to fetch into or publish from. */
export interface RemoteUnderTest {
  readonly remote: RemoteStore;
  /** A new, empty local cache (another machine's). */
  local(): Promise<CacheStore>;
}

/** A backend that passes everything through but fails writes of paths matching `failOn`, like a dropped connection. */
class FailingWrites implements ObjectBackend {
  readonly kind: ObjectBackend['kind'];
  readonly location: string;
  readonly #inner: ObjectBackend;
  readonly #failOn: (path: string) => boolean;
  readonly written: string[] = [];

  constructor(inner: ObjectBackend, failOn: (path: string) => boolean) {
    this.kind = inner.kind;
    this.location = inner.location;
    this.#inner = inner;
    this.#failOn = failOn;
  }

  read(path: string): ReturnType<ObjectBackend['read']> {
    return this.#inner.read(path);
  }

  size(path: string): ReturnType<ObjectBackend['size']> {
    return this.#inner.size(path);
  }

  async write(path: string, body: ObjectBody): Promise<void> {
    if (this.#failOn(path)) throw new RemoteError('unavailable', 'connection reset (simulated)');
    this.written.push(path);
    return this.#inner.write(path, body);
  }

  remove(path: string): Promise<void> {
    return this.#inner.remove(path);
  }

  list(folder: string): ReturnType<ObjectBackend['list']> {
    return this.#inner.list(folder);
  }

  close(): void {
    // The inner backend belongs to the test's remote.
  }
}

/** Commits a test entry to `local` and returns it. */
async function localEntry(local: CacheStore, key: string, value: unknown, extraBytes: number, fill = 7): Promise<CacheEntry> {
  const staging = await local.stage(key);
  await writeFile(join(staging.dir, 'out.json'), JSON.stringify(value));
  if (extraBytes > 0) await writeFile(join(staging.dir, 'blob.bin'), Buffer.alloc(extraBytes, fill));
  return staging.commit(commitInfo(`node-${key.slice(0, 4)}`, {acc: 0.25}));
}

/** Registers the remote entry protocol suite for one backend. */
export function remoteConformance(name: string, open: () => Promise<RemoteUnderTest>): void {
  describe(`Remote conformance: ${name}`, () => {
    it('a key never published is absent, and fetching it commits nothing', async () => {
      const {remote, local} = await open();
      const key = testKey('r-absent');
      assert.deepEqual(await remote.lookup(key), {status: 'absent'});
      const into = await local();
      assert.deepEqual(await remote.fetch(key, into), {status: 'absent'});
      assert.equal((await into.get(key)).status, 'miss');
    });

    it('publish then fetch on another machine gives the same manifest and bytes; publishing again uploads nothing', async () => {
      const {remote, local} = await open();
      const key = testKey('r-roundtrip');
      const entry = await localEntry(await local(), key, {x: [1, 2]}, 4096);
      const first = await remote.publish(entry);
      assert.equal(first.status, 'published');
      if (first.status === 'published') assert.ok(first.bytes > 4096);
      assert.deepEqual(await remote.publish(entry), {status: 'present'});
      const other = await local();
      const fetched = await remote.fetch(key, other);
      assert.equal(fetched.status, 'fetched');
      if (fetched.status !== 'fetched') return;
      assert.equal(fetched.bytes, entry.manifest.files.reduce((s, f) => s + f.size, 0));
      assert.deepEqual(fetched.entry.manifest.files, entry.manifest.files);
      assert.deepEqual(fetched.entry.manifest.metrics, {acc: 0.25});
      assert.deepEqual(fetched.entry.manifest.producer, entry.manifest.producer);
      assert.deepEqual(fetched.entry.manifest.timings, entry.manifest.timings);
      assert.deepEqual(await readFile(join(fetched.entry.dir, 'blob.bin')), Buffer.alloc(4096, 7));
      assert.equal((await other.get(key)).status, 'hit');
      assert.deepEqual((await other.verify()).problems, []);
      assert.equal(await remote.check(key), undefined);
    });

    it('an interrupted push (manifest not written) leaves nothing visible; a retry uploads only what is missing', async () => {
      const {remote, local} = await open();
      const key = testKey('r-interrupted');
      const entry = await localEntry(await local(), key, 'v', 5000);
      const dropping = new FailingWrites(remote.backend, (path) => path.endsWith('/manifest.json'));
      const broken = new RemoteStore(remote.name, dropping);
      const outcome = await broken.publish(entry);
      assert.equal(outcome.status, 'failed');
      assert.ok(dropping.written.length === 2, `files were uploaded first: ${dropping.written.join(', ')}`);
      assert.deepEqual(await remote.lookup(key), {status: 'absent'});
      const keys = await remote.keys();
      assert.ok(Array.isArray(keys) && !keys.includes(key));
      const retry = new FailingWrites(remote.backend, () => false);
      const again = await new RemoteStore(remote.name, retry).publish(entry);
      assert.equal(again.status, 'published');
      assert.deepEqual(retry.written, [entryObject(key, 'manifest.json')]);
      assert.equal((await remote.fetch(key, await local())).status, 'fetched');
    });

    it('a file changed on the remote (same size) is refused on download and never committed', async () => {
      const {remote, local} = await open();
      const key = testKey('r-tampered');
      const entry = await localEntry(await local(), key, 'v', 2048);
      await remote.publish(entry);
      const blob = entry.manifest.files.find((f) => f.path === 'blob.bin');
      assert.ok(blob !== undefined);
      await remote.backend.write(entryObject(key, blobObjectName(blob)), {bytes: Buffer.alloc(2048, 8)});
      const into = await local();
      const fetched = await remote.fetch(key, into);
      assert.equal(fetched.status, 'bad');
      if (fetched.status === 'bad') assert.match(fetched.reason, /blob\.bin: downloaded 2048 bytes with hash [0-9a-f]{16}, expected 2048 bytes with hash/);
      assert.equal((await into.get(key)).status, 'miss');
      assert.deepEqual(await into.list(), []);
      assert.match(String(await remote.check(key)), /blob\.bin: content hash/);
    });

    it('a manifest naming a path outside its entry is refused, and nothing is written outside', async () => {
      const {remote, local} = await open();
      for (const path of ['../escaped.txt', '/abs/escaped.txt', 'a/./b.txt', 'a/../../escaped.txt', 'sub\\..\\x']) {
        const key = testKey(`r-escape-${path}`);
        const entry = await localEntry(await local(), key, 'v', 8);
        await remote.publish(entry);
        const manifest = {...entry.manifest, files: [...entry.manifest.files, {path, size: 8, hash: entry.manifest.files[0]?.hash ?? ''}]};
        await remote.backend.write(entryObject(key, 'manifest.json'), {bytes: Buffer.from(JSON.stringify(manifest))});
        const lookup = await remote.lookup(key);
        assert.equal(lookup.status, 'bad', path);
        if (lookup.status === 'bad') assert.match(lookup.reason, /manifest file path/);
        const into = await local();
        const fetched = await remote.fetch(key, into);
        assert.equal(fetched.status, 'bad', path);
        assert.equal((await into.get(key)).status, 'miss');
        assert.equal(existsSync(join(into.location, 'escaped.txt')), false);
        assert.equal(existsSync(join(into.location, '..', 'escaped.txt')), false);
      }
    });

    it('two machines pushing one key at once (different bytes) both succeed and the entry stays sound', async () => {
      const {remote, local} = await open();
      const key = testKey('r-race');
      const [a, b] = [await localEntry(await local(), key, 'a', 3000, 1), await localEntry(await local(), key, 'bb', 3001, 2)];
      const outcomes = await Promise.all([remote.publish(a), remote.publish(b)]);
      for (const o of outcomes) assert.ok(o.status === 'published' || o.status === 'present', JSON.stringify(o));
      assert.equal(await remote.check(key), undefined);
      const fetched = await remote.fetch(key, await local());
      assert.equal(fetched.status, 'fetched');
    });

    it('lists published keys; run records go up once and come back; remove hides an entry', async () => {
      const {remote, local} = await open();
      const keys = [testKey('r-list-1'), testKey('r-list-2')];
      for (const key of keys) await remote.publish(await localEntry(await local(), key, key, 10));
      const listed = await remote.keys();
      assert.ok(Array.isArray(listed));
      if (Array.isArray(listed)) for (const key of keys) assert.ok(listed.includes(key));
      assert.equal(await remote.putRunRecord('my pipeline', '2026-01-01T00-00-00-000Z-abcd', '{"pipeline":"my pipeline","nodes":[]}'), true);
      assert.equal(await remote.putRunRecord('my pipeline', '2026-01-01T00-00-00-000Z-abcd', 'ignored'), false);
      assert.ok((await remote.runPipelines()).includes('my pipeline'));
      assert.deepEqual(await remote.runIds('my pipeline'), ['2026-01-01T00-00-00-000Z-abcd']);
      assert.equal(await remote.runRecord('my pipeline', '2026-01-01T00-00-00-000Z-abcd'), '{"pipeline":"my pipeline","nodes":[]}');
      const found = await remote.lookup(keys[0] ?? '');
      await remote.remove(keys[0] ?? '', found.status === 'present' ? found.manifest : undefined);
      assert.deepEqual(await remote.lookup(keys[0] ?? ''), {status: 'absent'});
    });
  });
}
