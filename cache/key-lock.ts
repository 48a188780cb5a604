/**
 * A per-key inter-process lock, so two runners sharing a cache never compute the same key at once.
 *
 * Why a lock file holding an owner stamp rather than proper-lockfile: proper-lockfile decides staleness only by the
 * lock's mtime (refreshed by a timer), so after a `kill -9` every waiter sits out the stale period (seconds at best,
 * and a tight period misfires when the event loop is busy). Here a waiter in the owner's scope (same host, boot and
 * pid namespace) asks the OS whether the owner is alive, by pid *and* process start time, so neither a dead owner
 * nor a reused pid (after a container restart) makes anyone wait; an owner in another scope (a shared cache on a
 * network file system, another container) is judged by a heartbeat: the holder touches the file every few seconds
 * and a lock not touched for `staleMs` is dead. So locks die with their process.
 *
 * A lock file is created complete: its content is written to a private temp file first and then hard-linked to the
 * lock name (a link fails rather than replace an existing lock), so an empty or half-written lock file can only be
 * debris of a crash or of an older version, and is taken over after a short grace period instead of `staleMs`.
 */
import {link, open, readFile, rename, stat, unlink, utimes, writeFile} from 'node:fs/promises';
import {randomHex} from './random-hex.js';
import {setTimeout as sleep} from 'node:timers/promises';
import {describeOwner, liveness, ownStamp, parseStamp} from './owner-stamp.js';
import type {OwnerStamp} from './owner-stamp.js';

export {isPidAlive} from './owner-stamp.js';

/** A held lock; `release()` is idempotent. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Timing knobs (tests shorten them). */
export interface LockOptions {
  /** A lock of another scope untouched for this long is stale. */
  readonly staleMs?: number;
  /** How often the holder refreshes its lock's mtime. */
  readonly heartbeatMs?: number;
  readonly signal?: AbortSignal;
  /** Called once, with the holder ("pid 12 on gpu-box"), when the lock is held by someone else and we wait. */
  readonly onWait?: (holder: string) => void;
}

/** An unreadable lock file (empty: its writer died between creating and writing it) is dead after this long. */
const UNREADABLE_GRACE_MS = 2_000;

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function readOwner(text: string): OwnerStamp | undefined {
  try {
    return parseStamp(JSON.parse(text));
  } catch {
    return undefined;
  }
}

/**
 * Creates `path` holding `text`, failing with EEXIST if it exists. Through a hard link of a complete temp file where
 * the file system supports links; else (some network and FUSE file systems) by an exclusive create and a write.
 */
async function createComplete(path: string, text: string): Promise<void> {
  const temp = `${path}.${randomHex(6)}.tmp`;
  await writeFile(temp, text, {flag: 'wx'});
  try {
    await link(temp, path);
    return;
  } catch (error) {
    const code = errno(error);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS') throw error;
  } finally {
    await unlink(temp).catch(() => undefined);
  }
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(text);
  } catch (error) {
    // A lock we could not fill (a full disk) must not stay behind looking held.
    await handle.close();
    await unlink(path).catch(() => undefined);
    throw error;
  }
  await handle.close();
}

/** Who holds the lock at `path`, for messages ("pid 12 on gpu-box"), or a description of what is there. */
async function holderOf(path: string): Promise<string> {
  const owner = readOwner(await readFile(path, 'utf8').catch(() => ''));
  return owner === undefined ? `an unreadable lock file ${path}` : describeOwner(owner);
}

/** Tries once to create the lock file; resolves to the held lock, or undefined when someone else holds it. */
export async function tryLock(path: string, options: LockOptions = {}): Promise<HeldLock | undefined> {
  const owner = ownStamp();
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await createComplete(path, JSON.stringify(owner));
      return holdLock(path, owner, options.heartbeatMs ?? 5_000);
    } catch (error) {
      if (errno(error) !== 'EEXIST') throw error;
    }
    if (!(await breakIfStale(path, options.staleMs ?? 30_000))) return undefined;
  }
  return undefined;
}

/** Waits (polling with a growing interval, up to `signal`) until the lock is ours; says once whom it waits for. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<HeldLock> {
  let delay = 10;
  let told = false;
  for (;;) {
    options.signal?.throwIfAborted();
    const held = await tryLock(path, options);
    if (held !== undefined) return held;
    if (!told && options.onWait !== undefined) {
      told = true;
      options.onWait(await holderOf(path));
    }
    await sleep(delay, undefined, options.signal === undefined ? {} : {signal: options.signal});
    delay = Math.min(delay * 2, 200);
  }
}

function holdLock(path: string, owner: OwnerStamp, heartbeatMs: number): HeldLock {
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, heartbeatMs);
  // The heartbeat must not keep a finished process alive.
  timer.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      // Only remove the file if it is still ours (it may have been broken as stale and re-taken).
      const current = readOwner(await readFile(path, 'utf8').catch(() => ''));
      if (current?.token === owner.token) await unlink(path).catch(() => undefined);
    },
  };
}

/** True when the lock whose content is `text` and mtime `mtimeMs` belongs to no live process. */
export function isStale(text: string, mtimeMs: number, staleMs: number, now = Date.now()): boolean {
  const owner = readOwner(text);
  if (owner === undefined) return now - mtimeMs > UNREADABLE_GRACE_MS;
  const state = liveness(owner);
  return state === 'dead' || (state === 'unknown' && now - mtimeMs > staleMs);
}

/**
 * Removes the lock at `path` if its owner is dead; true when it did (or the lock vanished meanwhile).
 * The stale file is first renamed to a unique name, so two waiters breaking the same lock cannot both succeed; should
 * the renamed file turn out to be a fresh lock someone took in between, it is put back with `link` (which fails rather
 * than overwrite a newer lock).
 */
async function breakIfStale(path: string, staleMs: number): Promise<boolean> {
  let text: string;
  let mtimeMs: number;
  try {
    [text, mtimeMs] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
  } catch (error) {
    if (errno(error) === 'ENOENT') return true;
    throw error;
  }
  if (!isStale(text, mtimeMs, staleMs)) return false;
  const owner = readOwner(text);
  const tomb = `${path}.stale-${process.pid}-${randomHex(4)}`;
  try {
    await rename(path, tomb);
  } catch (error) {
    if (errno(error) === 'ENOENT') return true;
    throw error;
  }
  const moved = readOwner(await readFile(tomb, 'utf8').catch(() => ''));
  if (moved !== undefined && moved.token !== owner?.token) {
    await link(tomb, path).catch(() => undefined);
  }
  await unlink(tomb).catch(() => undefined);
  return true;
}
