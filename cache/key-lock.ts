/**
 * A per-key inter-process lock, so two runners sharing a cache never compute the same key at once.
 *
 * Why an O_EXCL lock file holding {host, pid} rather than proper-lockfile: proper-lockfile decides staleness only by
 * the lock's mtime (refreshed by a timer), so after a `kill -9` every waiter sits out the stale period (seconds at best,
 * and a tight period misfires when the event loop is busy). Here a waiter on the same host asks the OS whether the owner
 * pid is alive and takes over at once when it is not; an owner on another host (a shared cache on a network file
 * system) is judged by a heartbeat: the holder touches the file every few seconds and a lock not touched for
 * `staleMs` is dead. So locks die with their process.
 */
import {hostname} from 'node:os';
import {link, open, readFile, rename, stat, unlink, utimes} from 'node:fs/promises';
import {randomBytes} from 'node:crypto';
import {setTimeout as sleep} from 'node:timers/promises';

/** What a lock file contains. */
interface LockOwner {
  readonly host: string;
  readonly pid: number;
  readonly token: string;
}

/** A held lock; `release()` is idempotent. */
export interface HeldLock {
  release(): Promise<void>;
}

/** Timing knobs (tests shorten them). */
export interface LockOptions {
  /** A lock from another host untouched for this long is stale. */
  readonly staleMs?: number;
  /** How often the holder refreshes its lock's mtime. */
  readonly heartbeatMs?: number;
  readonly signal?: AbortSignal;
}

const HOST = hostname();

/** True when `pid` names a live process on this machine. */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function parseOwner(text: string): LockOwner | undefined {
  try {
    const value = JSON.parse(text) as Partial<LockOwner>;
    if (typeof value.host === 'string' && typeof value.pid === 'number' && typeof value.token === 'string') {
      return value as LockOwner;
    }
  } catch {
    // A lock being written right now reads empty; the caller treats it as live and retries.
  }
  return undefined;
}

/** Tries once to create the lock file; resolves to the held lock, or undefined when someone else holds it. */
export async function tryLock(path: string, options: LockOptions = {}): Promise<HeldLock | undefined> {
  const owner: LockOwner = {host: HOST, pid: process.pid, token: randomBytes(8).toString('hex')};
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(path, 'wx');
      try {
        await handle.writeFile(JSON.stringify(owner));
      } finally {
        await handle.close();
      }
      return holdLock(path, owner, options.heartbeatMs ?? 5_000);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (!(await breakIfStale(path, options.staleMs ?? 30_000))) return undefined;
  }
  return undefined;
}

/** Waits (polling with a growing interval, up to `signal`) until the lock is ours. */
export async function acquireLock(path: string, options: LockOptions = {}): Promise<HeldLock> {
  let delay = 10;
  for (;;) {
    options.signal?.throwIfAborted();
    const held = await tryLock(path, options);
    if (held !== undefined) return held;
    await sleep(delay, undefined, options.signal === undefined ? {} : {signal: options.signal});
    delay = Math.min(delay * 2, 200);
  }
}

function holdLock(path: string, owner: LockOwner, heartbeatMs: number): HeldLock {
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
      const current = parseOwner(await readFile(path, 'utf8').catch(() => ''));
      if (current?.token === owner.token) await unlink(path).catch(() => undefined);
    },
  };
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
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  const owner = parseOwner(text);
  const stale =
    owner === undefined
      ? Date.now() - mtimeMs > staleMs
      : owner.host === HOST
        ? !isPidAlive(owner.pid)
        : Date.now() - mtimeMs > staleMs;
  if (!stale) return false;
  const tomb = `${path}.stale-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    await rename(path, tomb);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw error;
  }
  const moved = parseOwner(await readFile(tomb, 'utf8').catch(() => ''));
  if (owner !== undefined && moved !== undefined && moved.token !== owner.token) {
    await link(tomb, path).catch(() => undefined);
  }
  await unlink(tomb).catch(() => undefined);
  return true;
}
