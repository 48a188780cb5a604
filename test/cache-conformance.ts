/**
 * The conformance suite every CacheStore implementation must pass (the local store today; a remote or shared store
 * later). Call it from a `*.test.ts` file with a factory that opens a fresh, empty store.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {chmod, readFile, stat, utimes, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import type {CacheStore, CommitInfo} from '../cache/store.js';

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

/** Registers the suite for one implementation. */
export function cacheConformance(name: string, open: () => Promise<CacheStore>): void {
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

    it('a truncated artifact is a corrupt miss, removed, and then a plain miss', async () => {
      const store = await open();
      const key = testKey('e');
      const dir = await put(store, key, 'v', 1000);
      // Committed files are read-only (root writes them anyway; other users need the mode changed first).
      await chmod(join(dir, 'blob.bin'), 0o644);
      await writeFile(join(dir, 'blob.bin'), 'short');
      const lookup = await store.get(key);
      assert.equal(lookup.status, 'corrupt');
      if (lookup.status === 'corrupt') assert.match(lookup.reason, /blob\.bin: size 5, expected 1000/);
      assert.deepEqual(await store.get(key), {status: 'miss'});
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
      // Damage that keeps size and time (bit rot): only re-hashing finds it.
      const before = await stat(join(dir, 'blob.bin'));
      await chmod(join(dir, 'blob.bin'), 0o644);
      await writeFile(join(dir, 'blob.bin'), Buffer.alloc(64, 9));
      await utimes(join(dir, 'blob.bin'), before.atime, before.mtime);
      assert.equal((await store.get(key)).status, 'hit');
      const report = await store.verify();
      assert.equal(report.checked, 1);
      assert.equal(report.problems.length, 1);
      assert.match(report.problems[0]?.reason ?? '', /blob\.bin: content hash/);
      await store.verify({repair: true});
      assert.equal((await store.get(key)).status, 'miss');
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
  });
}
