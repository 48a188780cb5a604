/**
 * The cache on a local (or shared network) file system.
 *
 * Layout under the root:
 *   `CACHEDIR.TAG`, `distillery-cache.json`  the marker (see cache-marker.ts): no marker, no cleaning
 *   `<key[0:2]>/<key>/`  an entry: artifact files, `manifest.json`, and `.used` (its mtime is the last hit, for LRU)
 *   `tmp/<host>.<pid>.<rand>/`  staging folders and entries on their way out; the name says who owns them
 *   `locks/<key>.lock`  per-key locks (see key-lock.ts); `locks/gc.lock` serialises gc with new leases
 *   `leases/<host>.<pid>.<rand>.json`  the keys each running run reads (see run-lease.ts)
 *   `memo/<hash>.json`  when runs over a set of keys last touched their entries (see touch-memo.ts)
 * An entry only appears by renaming a complete staging folder (manifest written last) into place, so a crash or
 * `kill -9` at any moment leaves either no entry or a whole one; the leftovers live in `tmp/`, which is never read as
 * an entry and is cleaned when its owner is dead.
 *
 * What may be removed is decided by name as well as by the marker: only entry folders (`<key[0:2]>/<key>`), temp
 * folders, and lock, lease and memo files named in this store's own patterns. Any other file, even inside a marked
 * cache, is left alone.
 */
import {hostname} from 'node:os';
import {join, normalize, relative, sep} from 'node:path';
import {chmod, lstat, mkdir, readdir, readFile, rename, rm, stat, writeFile} from 'node:fs/promises';
import {randomHex} from './random-hex.js';
import {closeSync, existsSync, fstatSync, lstatSync, openSync, readSync, utimesSync} from 'node:fs';
import type {Dirent, Stats} from 'node:fs';
import type {
  CacheEntry,
  CacheLookup,
  CacheStore,
  CommitInfo,
  EntrySummary,
  GcOptions,
  GcReport,
  Staging,
  VerifyProblem,
  VerifyReport,
} from './store.js';
import {checkManifest, MANIFEST_FILE} from './manifest.js';
import {CommitRefused} from './store.js';
import type {Manifest, ManifestFile} from './manifest.js';
import {hashFile, xxhashApi} from './content-hash.js';
import {MEMO_DIR, MEMO_NAME, MEMO_STALE_MS, TouchMemo} from './touch-memo.js';
import {acquireLock, isPidAlive, tryLock} from './key-lock.js';
import type {HeldLock, LockOptions} from './key-lock.js';
import {CacheFolderError, inspectCacheFolder, writeMarker} from './cache-marker.js';
import type {CacheFolderProblem} from './cache-marker.js';
import {LEASE_DIR, readLeases, writeLease} from './run-lease.js';
import type {HeldLease} from './run-lease.js';

export {CacheFolderError} from './cache-marker.js';

/** Marker whose mtime records the last use of an entry. */
const USED_FILE = '.used';
const TMP_DIR = 'tmp';
const LOCK_DIR = 'locks';
/** Held by gc while it chooses and moves entries out, and by a run while it writes its lease. */
const GC_LOCK = 'gc.lock';
/** Temp files of lock creation and breaking (key-lock.ts), left only by a crash at that moment. */
const LOCK_DEBRIS = /^[0-9a-z][0-9a-z_-]{2,127}\.lock\.(?:[0-9a-f]{12}\.tmp|stale-\d+-[0-9a-f]{8})$/i;
/** Lock debris younger than this may belong to a lock operation in progress. */
const DEBRIS_AGE_MS = 60_000;
/** The name of a temp folder this store makes: `<host tag>.<pid>.<12 hex>`. */
const TMP_NAME = /^([A-Za-z0-9-]+)\.(\d+)\.[0-9a-f]{12}$/;
/** Temp folders of other hosts (whose pids we cannot check) are abandoned after this long. */
const STRAY_AGE_MS = 24 * 3600_000;

const HOST_TAG = hostname().replace(/[^A-Za-z0-9-]/g, '-') || 'host';
const KEY_PATTERN = /^[0-9a-z][0-9a-z_-]{2,127}$/i;

/**
 * `read`: for commands that only look (`cache ls`, `plan`, `results`, `export`): nothing is created, cleaned or
 * removed, and a missing folder reads as an empty cache. `write`: for commands that compute or collect; the folder is
 * created (with its marker) if it is new or empty.
 */
export type OpenMode = 'read' | 'write';

/** Options of a local store. */
export interface LocalStoreOptions {
  readonly lock?: Omit<LockOptions, 'signal'>;
  /** Default `write`. */
  readonly mode?: OpenMode;
}

/** The outcome of `LocalStore.tryOpen`. */
export type OpenResult = {readonly ok: true; readonly store: LocalStore} | {readonly ok: false; readonly problem: CacheFolderProblem};

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/**
 * The regular files under a staging folder, as forward-slash paths relative to it, and whatever else is there
 * (symlinks, pipes, sockets, devices): a cache entry holds regular files only.
 */
async function listStaged(dir: string): Promise<{files: string[]; other: Array<{path: string; kind: string}>}> {
  const entries = await readdir(dir, {withFileTypes: true, recursive: true});
  const rel = (e: Dirent): string => relative(dir, join(e.parentPath, e.name)).split(sep).join('/');
  const files = entries.filter((e) => e.isFile()).map(rel).sort();
  const other = entries
    .filter((e) => !e.isFile() && !e.isDirectory())
    .map((e) => ({path: rel(e), kind: e.isSymbolicLink() ? 'a symbolic link' : e.isFIFO() ? 'a pipe' : e.isSocket() ? 'a socket' : 'a device'}));
  return {files, other};
}

/**
 * The text of an open file of `size` bytes, read with as few calls as the size allows: a committed manifest is never
 * written again, so its size is its length (a short read just ends the text early, which then fails to parse).
 */
function readWhole(fd: number, size: number): string {
  const buffer = Buffer.allocUnsafe(size);
  let length = 0;
  while (length < size) {
    const read = readSync(fd, buffer, length, size - length, length);
    if (read === 0) break;
    length += read;
  }
  return buffer.toString('utf8', 0, length);
}

/** What is wrong with one listed file of an entry, judged by its lstat, or undefined. */
function fileProblem(file: ManifestFile, info: Stats, manifestMtime: number): string | undefined {
  if (!info.isFile()) return `${file.path}: not a regular file`;
  if (info.size !== file.size) return `${file.path}: size ${info.size}, expected ${file.size}`;
  if (info.mtimeMs > manifestMtime) return `${file.path}: changed after it was committed`;
  return undefined;
}

/** Removes the file at `path` if it was last modified more than `ageMs` ago; whether it did. */
async function removeIfOlder(path: string, ageMs: number): Promise<boolean> {
  const old = await stat(path).then((s) => Date.now() - s.mtimeMs > ageMs, () => false);
  if (old) await rm(path, {force: true});
  return old;
}

/** The local file-system cache store. */
export class LocalStore implements CacheStore {
  readonly location: string;
  readonly #options: LocalStoreOptions;

  /** `location`, normalised once. */
  readonly #root: string;

  /** The touch memos of the leases held now (see touch-memo.ts): a hit of one of their keys consults its memo. */
  readonly #memos: TouchMemo[] = [];

  private constructor(root: string, options: LocalStoreOptions) {
    this.location = root;
    this.#root = normalize(root).replace(/[\\/]+$/, '') || sep;
    this.#options = options;
  }

  /**
   * Opens the store at `root`. In `write` mode (the default) a missing or empty folder becomes a cache, and temp
   * folders of dead owners are cleaned. A folder that is not a cache is refused (nothing in it is touched).
   */
  static async tryOpen(root: string, options: LocalStoreOptions = {}): Promise<OpenResult> {
    const state = await inspectCacheFolder(root);
    const writable = (options.mode ?? 'write') === 'write';
    switch (state.kind) {
      case 'refused':
        return {ok: false, problem: state.problem};
      case 'missing':
      case 'new':
      case 'legacy':
        // Read mode creates nothing: a missing folder is an empty cache, and an unmarked one is only read.
        if (writable) {
          await mkdir(root, {recursive: true});
          await writeMarker(root);
        }
        break;
      case 'marked':
        break;
      default: {
        const never: never = state;
        throw new Error(`Internal error: unknown cache folder state ${JSON.stringify(never)}`);
      }
    }
    const store = new LocalStore(root, options);
    if (writable) {
      for (const dir of [TMP_DIR, LOCK_DIR, LEASE_DIR]) await mkdir(join(root, dir), {recursive: true});
      await store.#cleanStrays(false);
    }
    return {ok: true, store};
  }

  /** Like `tryOpen`, but throws a {@link CacheFolderError} for a refused folder (library use and tests). */
  static async open(root: string, options: LocalStoreOptions = {}): Promise<LocalStore> {
    const opened = await LocalStore.tryOpen(root, options);
    if (!opened.ok) throw new CacheFolderError(opened.problem);
    return opened.store;
  }

  get #writable(): boolean {
    return (this.#options.mode ?? 'write') === 'write';
  }

  #mustWrite(what: string): void {
    if (!this.#writable) throw new Error(`Internal error: ${what} on a cache opened read-only`);
  }

  #entryDir(key: string): string {
    if (!KEY_PATTERN.test(key)) throw new Error(`Internal error: malformed cache key ${JSON.stringify(key)}`);
    // Joined by hand: a no-op run builds thousands of these paths, and path.join normalises each one again.
    return `${this.#root}${sep}${key.slice(0, 2)}${sep}${key}`;
  }

  #lockPath(key: string): string {
    this.#entryDir(key);
    return join(this.location, LOCK_DIR, `${key}.lock`);
  }

  async #newTempDir(): Promise<string> {
    const dir = join(this.location, TMP_DIR, `${HOST_TAG}.${process.pid}.${randomHex(6)}`);
    await mkdir(dir, {recursive: true});
    return dir;
  }

  async #readManifest(key: string, dir: string): Promise<Manifest | string> {
    let text: string;
    try {
      text = await readFile(join(dir, MANIFEST_FILE), 'utf8');
    } catch (error) {
      return errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR' ? 'missing manifest' : `unreadable manifest (${errno(error)})`;
    }
    try {
      return checkManifest(JSON.parse(text), key);
    } catch {
      return 'manifest is not valid JSON';
    }
  }

  /** Checks presence, kind and sizes of the listed files (not their content); see #checkFilesSync. */
  async #checkSizes(dir: string, files: readonly ManifestFile[]): Promise<string | undefined> {
    const manifestMtime = await stat(join(dir, MANIFEST_FILE)).then((s) => s.mtimeMs, () => Infinity);
    const problems = await Promise.all(
      files.map(async (f) => {
        try {
          return fileProblem(f, await lstat(join(dir, f.path)), manifestMtime);
        } catch {
          return `${f.path}: missing`;
        }
      }),
    );
    return problems.find((p) => p !== undefined);
  }

  async get(key: string, options: {readonly touch?: boolean} = {}): Promise<CacheLookup> {
    const dir = this.#entryDir(key);
    // The hit path uses synchronous calls on purpose: a no-op run does thousands of tiny reads, and going through the
    // libuv thread pool costs more per call than the read itself (each blocks the loop for microseconds only).
    let manifest: Manifest | string;
    let manifestMtime = Infinity;
    try {
      // One open and one stat for the text and the mtime: files newer than the manifest were changed after the commit.
      const fd = openSync(`${dir}${sep}${MANIFEST_FILE}`, 'r');
      try {
        const info = fstatSync(fd);
        manifestMtime = info.mtimeMs;
        manifest = checkManifest(JSON.parse(readWhole(fd, info.size)), key);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      const code = errno(error);
      if (code === 'ENOENT' || code === 'ENOTDIR') {
        // A folder without a manifest cannot be produced by a commit; anything there is debris.
        if (!existsSync(dir)) return {status: 'miss'};
        manifest = 'missing manifest';
      } else {
        manifest = code === undefined ? 'manifest is not valid JSON' : `unreadable manifest (${code})`;
      }
    }
    const reason = typeof manifest === 'string' ? manifest : this.#checkFilesSync(dir, manifest.files, manifestMtime);
    if (reason !== undefined || typeof manifest === 'string') {
      if (this.#writable) await this.remove(key);
      return {status: 'corrupt', reason: reason ?? 'bad manifest'};
    }
    if (options.touch !== false && this.#writable) {
      const now = Date.now();
      // Within the memo's interval a run of the same keys has already marked every one of their entries as used.
      const memo = this.#memos.find((m) => m.has(key));
      if (memo === undefined || memo.needsTouch(now)) {
        try {
          utimesSync(`${dir}${sep}${USED_FILE}`, now / 1000, now / 1000);
        } catch {
          await writeFile(join(dir, USED_FILE), '').catch(() => undefined);
        }
        memo?.touched(key, now);
      }
    }
    return {status: 'hit', entry: {key, dir, manifest}};
  }

  /**
   * Synchronous twin of #checkSizes for the hit path: each file exists, is a regular file (a symlink could point
   * anywhere), has its size, and is not newer than the manifest (a node that rewrote its input in place). No hashing.
   */
  #checkFilesSync(dir: string, files: readonly ManifestFile[], manifestMtime: number): string | undefined {
    for (const f of files) {
      // Manifest paths are checked relative forward-slash paths (manifest.ts), which every platform reads.
      const s = lstatSync(`${dir}/${f.path}`, {throwIfNoEntry: false});
      if (s === undefined) return `${f.path}: missing`;
      const problem = fileProblem(f, s, manifestMtime);
      if (problem !== undefined) return problem;
    }
    return undefined;
  }

  async stage(key: string): Promise<Staging> {
    this.#mustWrite('stage');
    const final = this.#entryDir(key);
    const dir = await this.#newTempDir();
    const store = this;
    return {
      key,
      dir,
      async commit(info: CommitInfo): Promise<CacheEntry> {
        const {files: paths, other} = await listStaged(dir);
        if (other.length > 0) {
          throw new CommitRefused(`the node left ${other.map((o) => `${o.path} (${o.kind})`).join(', ')} among its outputs; only regular files can be cached`);
        }
        const listed = new Set(paths);
        for (const [port, out] of Object.entries(info.outputs)) {
          if (!listed.has(out.file)) {
            const kind = await lstat(join(dir, out.file)).then((st) => (st.isDirectory() ? 'a folder' : 'not a regular file'), () => 'missing');
            throw new CommitRefused(`output '${port}' (${out.file}) is ${kind}; an output must be one regular file`);
          }
        }
        const files = await Promise.all(
          paths.map(async (path) => {
            const full = join(dir, path);
            const [size, hash] = await Promise.all([stat(full).then((st) => st.size), hashFile(full)]);
            // Committed files are read-only, so a node cannot rewrite an input in place (a hit would not notice).
            await chmod(full, 0o444);
            return {path, size, hash};
          }),
        );
        const manifest: Manifest = {
          version: 1,
          key,
          files,
          outputs: info.outputs,
          metrics: info.metrics,
          timings: info.timings,
          producer: info.producer,
          createdAt: new Date().toISOString(),
        };
        const bad = checkManifest(manifest, key);
        if (typeof bad === 'string') throw new Error(`Internal error: cannot commit ${key}: ${bad}`);
        // No fsync: the guarantee is against crashes of processes (the manifest is written before the rename, so a
        // visible entry is complete); surviving power loss would cost a sync per file on every commit.
        await writeFile(join(dir, MANIFEST_FILE), JSON.stringify(manifest, null, 1));
        await writeFile(join(dir, USED_FILE), '');
        await mkdir(join(store.location, key.slice(0, 2)), {recursive: true});
        try {
          await rename(dir, final);
        } catch (error) {
          if (errno(error) !== 'ENOTEMPTY' && errno(error) !== 'EEXIST') throw error;
          // Someone else published this key first: keep theirs if it is valid, else replace it with ours.
          const existing = await store.get(key);
          if (existing.status === 'hit') {
            await rm(dir, {recursive: true, force: true});
            return existing.entry;
          }
          await rename(dir, final);
        }
        return {key, dir: final, manifest};
      },
      async discard(): Promise<void> {
        await rm(dir, {recursive: true, force: true});
      },
    };
  }

  lock(key: string, signal?: AbortSignal, onWait?: (holder: string) => void): Promise<HeldLock> {
    this.#mustWrite('lock');
    return acquireLock(this.#lockPath(key), {
      ...this.#options.lock,
      ...(signal === undefined ? {} : {signal}),
      ...(onWait === undefined ? {} : {onWait}),
    });
  }

  tryLock(key: string): Promise<HeldLock | undefined> {
    this.#mustWrite('tryLock');
    return tryLock(this.#lockPath(key), this.#options.lock);
  }

  /** Entry folders present, as [key, dir]: only `<key[0:2]>/<key>` names; anything else is not the store's. */
  async #entryDirs(): Promise<Array<[string, string]>> {
    const result: Array<[string, string]> = [];
    const shards = await readdir(this.location).catch((error: unknown) => {
      // A read-only view of a cache that does not exist yet is empty.
      if (errno(error) === 'ENOENT') return [] as string[];
      throw error;
    });
    for (const shard of shards) {
      if (!/^[0-9a-z]{2}$/i.test(shard)) continue;
      const names = await readdir(join(this.location, shard)).catch(() => [] as string[]);
      for (const name of names) {
        if (KEY_PATTERN.test(name) && name.slice(0, 2) === shard) result.push([name, join(this.location, shard, name)]);
      }
    }
    return result.sort((a, b) => a[0].localeCompare(b[0]));
  }

  async list(): Promise<EntrySummary[]> {
    const summaries: EntrySummary[] = [];
    for (const [key, dir] of await this.#entryDirs()) {
      const manifest = await this.#readManifest(key, dir);
      if (typeof manifest === 'string') continue;
      const [manifestSize, used] = await Promise.all([
        stat(join(dir, MANIFEST_FILE)).then((s) => s.size, () => 0),
        stat(join(dir, USED_FILE)).then((s) => s.mtime, () => new Date(manifest.createdAt)),
      ]);
      summaries.push({
        key,
        nodeId: manifest.producer.nodeId,
        type: manifest.producer.type,
        size: manifestSize + manifest.files.reduce((sum, f) => sum + f.size, 0),
        createdAt: manifest.createdAt,
        lastUsed: used,
      });
    }
    return summaries;
  }

  async verify(options: {readonly repair?: boolean} = {}): Promise<VerifyReport> {
    if (options.repair === true) this.#mustWrite('verify --repair');
    const problems: VerifyProblem[] = [];
    const entries = await this.#entryDirs();
    for (const [key, dir] of entries) {
      const manifest = await this.#readManifest(key, dir);
      let reason: string | undefined = typeof manifest === 'string' ? manifest : undefined;
      if (typeof manifest !== 'string') {
        reason = await this.#checkSizes(dir, manifest.files);
        for (const f of manifest.files) {
          if (reason !== undefined) break;
          const hash = await hashFile(join(dir, f.path));
          if (hash !== f.hash) reason = `${f.path}: content hash ${hash}, expected ${f.hash}`;
        }
      }
      if (reason !== undefined) {
        problems.push({key, reason});
        if (options.repair === true) await this.remove(key);
      }
    }
    return {checked: entries.length, problems};
  }

  async remove(key: string): Promise<boolean> {
    const trash = await this.#moveOut(key);
    if (trash === undefined) return false;
    await rm(trash, {recursive: true, force: true});
    return true;
  }

  /** Renames an entry into one of our temp folders (it stops being a hit at once); its new path, or undefined. */
  async #moveOut(key: string): Promise<string | undefined> {
    this.#mustWrite('remove');
    const dir = this.#entryDir(key);
    const trash = join(this.location, TMP_DIR, `${HOST_TAG}.${process.pid}.${randomHex(6)}`);
    try {
      await rename(dir, trash);
    } catch (error) {
      if (errno(error) === 'ENOENT') return undefined;
      throw error;
    }
    return trash;
  }

  /** What `gc` would remove now (leases respected), without changing anything. */
  async #gcPlan(options: GcOptions): Promise<GcReport> {
    const leases = await readLeases(join(this.location, LEASE_DIR));
    const entries = await this.list();
    let total = entries.reduce((sum, e) => sum + e.size, 0);
    const keep = options.keep;
    const removed: string[] = [];
    let freedBytes = 0;
    let leasedKept = 0;
    const candidates = entries.filter((e) => keep === undefined || !keep.has(e.key)).sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
    for (const entry of candidates) {
      if (options.maxBytes !== undefined ? total <= options.maxBytes : keep === undefined) break;
      if (leases.keys.has(entry.key)) {
        leasedKept++;
        continue;
      }
      removed.push(entry.key);
      freedBytes += entry.size;
      total -= entry.size;
    }
    return {removed, freedBytes, remainingBytes: total, strayRemoved: 0, leasedKept};
  }

  /**
   * Registers a run that will read `keys`: `gc` keeps them until the lease is released. Waits while a gc is choosing
   * what to remove (`onWait` is told once, so the caller can say why it waits).
   */
  async lease(keys: readonly string[], options: {readonly onWait?: () => void; readonly signal?: AbortSignal} = {}): Promise<HeldLease> {
    this.#mustWrite('lease');
    const gate = await this.#gcLock(options);
    let lease: HeldLease;
    try {
      const name = `${HOST_TAG}.${process.pid}.${randomHex(6)}.json`;
      lease = await writeLease(join(this.location, LEASE_DIR), name, keys);
    } finally {
      await gate.release();
    }
    // The keys a run reads are the keys it leases: their touch memo is loaded now and saved when the run ends.
    const memo = TouchMemo.load(this.location, (await xxhashApi()).h64ToString(keys.join('\n')), keys);
    this.#memos.push(memo);
    let released = false;
    return {
      release: async () => {
        if (!released) {
          released = true;
          this.#memos.splice(this.#memos.indexOf(memo), 1);
          memo.save();
        }
        await lease.release();
      },
    };
  }

  async #gcLock(options: {readonly onWait?: () => void; readonly signal?: AbortSignal}): Promise<HeldLock> {
    const path = join(this.location, LOCK_DIR, GC_LOCK);
    const now = await tryLock(path, this.#options.lock);
    if (now !== undefined) return now;
    options.onWait?.();
    return acquireLock(path, {...this.#options.lock, ...(options.signal === undefined ? {} : {signal: options.signal})});
  }

  /**
   * Removes temp folders and lock files whose owner is dead (or, for another host, that are older than a day).
   * `locks` also sweeps lock files (only gc does: on open, a waiter's own stale-check handles them). Only names in
   * the store's own patterns are considered; anything else in `tmp/` or `locks/` is not ours and stays.
   */
  async #cleanStrays(locks: boolean): Promise<number> {
    let removed = 0;
    const tmp = join(this.location, TMP_DIR);
    for (const name of await readdir(tmp).catch(() => [] as string[])) {
      const match = TMP_NAME.exec(name);
      if (match === null) continue;
      const [, host, pid] = match;
      const dead =
        host === HOST_TAG
          ? !isPidAlive(Number(pid))
          : await stat(join(tmp, name)).then((s) => Date.now() - s.mtimeMs > STRAY_AGE_MS, () => false);
      if (dead) {
        await rm(join(tmp, name), {recursive: true, force: true});
        removed++;
      }
    }
    if (locks) {
      // Memos (and memo temp files left by a crash) that no run has written for a week: ours by name, and old.
      const memoDir = join(this.location, MEMO_DIR);
      for (const name of await readdir(memoDir).catch(() => [] as string[])) {
        if (MEMO_NAME.test(name) && (await removeIfOlder(join(memoDir, name), MEMO_STALE_MS))) removed++;
      }
      const lockDir = join(this.location, LOCK_DIR);
      for (const name of await readdir(lockDir).catch(() => [] as string[])) {
        // Debris of a lock being created or broken when its process died (see key-lock.ts): ours by name, and old.
        if (LOCK_DEBRIS.test(name)) {
          if (await removeIfOlder(join(lockDir, name), DEBRIS_AGE_MS)) removed++;
          continue;
        }
        const key = name.replace(/\.lock$/, '');
        if (!KEY_PATTERN.test(key)) continue;
        // tryLock breaks a dead owner's lock; releasing at once leaves the key free.
        const held = await tryLock(join(lockDir, name), this.#options.lock).catch(() => undefined);
        if (held !== undefined) {
          await held.release();
          removed++;
        }
      }
    }
    return removed;
  }

  async gc(options: GcOptions): Promise<GcReport> {
    if (options.dryRun === true) return this.#gcPlan(options);
    this.#mustWrite('gc');
    let strayRemoved = await this.#cleanStrays(true);
    const removed: string[] = [];
    const trash: string[] = [];
    let freedBytes = 0;
    let total = 0;
    let leasedKept = 0;
    // Under the gc lock no run can register new reads: the leases read here are all there are until the chosen
    // entries have been moved out (renames, so the lock is held briefly even for big entries).
    const gate = await this.#gcLock({});
    try {
      const leaseDir = join(this.location, LEASE_DIR);
      const leases = await readLeases(leaseDir);
      for (const name of leases.dead) {
        await rm(join(leaseDir, name), {force: true});
        strayRemoved++;
      }
      const entries = await this.list();
      total = entries.reduce((sum, e) => sum + e.size, 0);
      const keep = options.keep;
      const candidates = entries
        .filter((e) => keep === undefined || !keep.has(e.key))
        .sort((a, b) => a.lastUsed.getTime() - b.lastUsed.getTime());
      for (const entry of candidates) {
        if (options.maxBytes !== undefined ? total <= options.maxBytes : keep === undefined) break;
        if (leases.keys.has(entry.key)) {
          leasedKept++;
          continue;
        }
        const moved = await this.#moveOut(entry.key);
        if (moved !== undefined) {
          trash.push(moved);
          removed.push(entry.key);
          freedBytes += entry.size;
          total -= entry.size;
        }
      }
    } finally {
      await gate.release();
    }
    for (const dir of trash) await rm(dir, {recursive: true, force: true});
    return {removed, freedBytes, remainingBytes: total, strayRemoved, leasedKept};
  }
}
