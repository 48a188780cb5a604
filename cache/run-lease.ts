/**
 * Leases: how a running run tells `gc` which entries it reads, so that a collection never deletes an input from
 * under a node.
 *
 * A run writes `leases/<host>.<pid>.<rand>.json` (its owner stamp and the keys of its plan) before it looks anything
 * up, and deletes it when it ends. `gc` keeps every key named by a live lease. The two are serialised by the gc lock
 * (`locks/gc.lock`): a run takes it only for the moment it writes its lease file; `gc` holds it while it reads the
 * leases and moves the entries it collects out of the way. So either a lease is written before `gc` reads the leases
 * (and its keys are kept), or the run waits until the collection is done and then sees the cache as `gc` left it.
 *
 * A lease dies with its run: in this process's scope the owner's pid and start time are checked (see owner-stamp.ts);
 * a lease of another host is judged by its heartbeat (the holder touches it every few seconds), and only after a long
 * silence, because wrongly ending a live lease costs a recomputation while keeping a dead one only delays a collection.
 */
import {closeSync, openSync, unlinkSync, writeFileSync} from 'node:fs';
import {readdir, readFile, stat, utimes} from 'node:fs/promises';
import {join} from 'node:path';
import {liveness, ownStamp, parseStamp} from './owner-stamp.js';
import type {OwnerStamp} from './owner-stamp.js';

/** The folder of lease files under a cache root. */
export const LEASE_DIR = 'leases';
/** The name of a lease file: `<host tag>.<pid>.<12 hex>.json`; nothing else in the folder is ever removed. */
export const LEASE_NAME = /^[A-Za-z0-9-]+\.\d+\.[0-9a-f]{12}\.json$/;
/** A lease of another scope whose file was not touched for this long is dead. */
export const LEASE_STALE_MS = 10 * 60_000;
const HEARTBEAT_MS = 5_000;

/** A held lease; `release()` is idempotent. */
export interface HeldLease {
  release(): Promise<void>;
}

interface LeaseFile {
  readonly owner: OwnerStamp;
  readonly keys: readonly string[];
}

/** Writes a lease file named `name` in `dir` for `keys`, with a heartbeat; the caller holds the gc lock. */
export async function writeLease(dir: string, name: string, keys: readonly string[]): Promise<HeldLease> {
  const path = join(dir, name);
  const body: LeaseFile = {owner: ownStamp(), keys: [...keys]};
  // Synchronous calls, here and in release: every run writes and removes its lease, a cached one in a few
  // milliseconds of work, and three thread-pool round trips would cost more than the file operations themselves.
  const fd = openSync(path, 'wx');
  try {
    writeFileSync(fd, JSON.stringify(body));
  } catch (error) {
    closeSync(fd);
    try {
      unlinkSync(path);
    } catch {
      // Nothing was left to remove.
    }
    throw error;
  }
  closeSync(fd);
  const timer = setInterval(() => {
    const now = new Date();
    utimes(path, now, now).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        unlinkSync(path);
      } catch {
        // Already gone (a gc judged it dead): nothing is left to release.
      }
    },
  };
}

/**
 * Reads every lease in `dir`: the keys of live ones, and the names of dead ones (which the caller, holding the gc
 * lock, may delete). A lease being written right now (unparseable, but fresh) counts as live with no keys known
 * yet; that cannot happen while the gc lock is held, since leases are written under it.
 */
export async function readLeases(dir: string, now = Date.now()): Promise<{keys: Set<string>; dead: string[]}> {
  const keys = new Set<string>();
  const dead: string[] = [];
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return {keys, dead};
  }
  for (const name of names) {
    if (!LEASE_NAME.test(name)) continue;
    const path = join(dir, name);
    let text: string;
    let mtimeMs: number;
    try {
      [text, mtimeMs] = await Promise.all([readFile(path, 'utf8'), stat(path).then((s) => s.mtimeMs)]);
    } catch {
      continue;
    }
    let parsed: Partial<LeaseFile> | undefined;
    try {
      parsed = JSON.parse(text) as Partial<LeaseFile>;
    } catch {
      parsed = undefined;
    }
    const owner = parseStamp(parsed?.owner);
    // A file without a readable owner (written by hand, or cut short by a full disk) is judged by its age alone.
    const state = owner === undefined ? 'unknown' : liveness(owner);
    const alive = state === 'alive' || (state === 'unknown' && now - mtimeMs < LEASE_STALE_MS);
    if (!alive) {
      dead.push(name);
      continue;
    }
    for (const key of Array.isArray(parsed?.keys) ? parsed.keys : []) if (typeof key === 'string') keys.add(key);
  }
  return {keys, dead};
}
