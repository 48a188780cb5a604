/**
 * Who owns a lock, a lease or a temp folder, in a form whose liveness can be judged even after the owner's pid has
 * been reused.
 *
 * A bare pid is not proof of life: after a container restart (or a pid wrap-around) the number belongs to some
 * unrelated process, and a lock judged by `kill(pid, 0)` alone then blocks forever. So a stamp also records the
 * *scope* its pid means something in (host name, kernel boot id and pid namespace) and the process's start time
 * (field 22 of `/proc/<pid>/stat`). A pid in our own scope is alive only if a process with that pid exists *and*
 * started at the recorded time. Outside our scope (another machine on a shared file system, another container, the
 * same host before a reboot) nothing can be asked of the kernel: the owner refreshes its file's mtime as a heartbeat,
 * and the caller judges by that instead.
 *
 * Written by hand: the npm lock packages decide liveness by mtime alone (proper-lockfile) or by pid alone, and
 * neither survives pid reuse without a stale period.
 */
import {hostname} from 'node:os';
import {readFileSync, readlinkSync} from 'node:fs';
import {randomHex} from './random-hex.js';

/** The identity written into lock and lease files. */
export interface OwnerStamp {
  readonly host: string;
  readonly pid: number;
  /** Host name, boot id and pid namespace: where `pid` can be looked up. */
  readonly scope: string;
  /** The process's start time in clock ticks since boot (Linux); empty where unknown. */
  readonly started: string;
  /** Random, so a holder can tell its own file from a successor's. */
  readonly token: string;
}

/** How alive an owner is, as far as this process can tell. */
export type Liveness = 'alive' | 'dead' | 'unknown';

const HOST = hostname();

function readOr(read: () => string, fallback: string): string {
  try {
    return read();
  } catch {
    return fallback;
  }
}

/** The start time of `pid` (clock ticks since boot), or '' where /proc cannot tell (not Linux, no such pid). */
export function processStartTime(pid: number): string {
  return readOr(() => {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces and ')': split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return fields[19] ?? '';
  }, '');
}

const BOOT_ID = readOr(() => readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), '');
const PID_NS = readOr(() => readlinkSync('/proc/self/ns/pid'), '');
const SCOPE = `${HOST}|${BOOT_ID}|${PID_NS}`;
const OWN_START = processStartTime(process.pid);

/** A fresh stamp for this process (a new token each call). */
export function ownStamp(): OwnerStamp {
  return {host: HOST, pid: process.pid, scope: SCOPE, started: OWN_START, token: randomHex(8)};
}

/** The scope this process's pids live in (tests compare stamps against it). */
export function ownScope(): string {
  return SCOPE;
}

/** True when some process with `pid` exists on this machine (EPERM: it exists but belongs to someone else). */
export function isPidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Whether the owner of `stamp` still runs: `dead` when its pid is gone or now belongs to a process that started at
 * another time; `unknown` when the stamp comes from another scope (judge by heartbeat then).
 */
export function liveness(stamp: OwnerStamp): Liveness {
  if (stamp.scope !== SCOPE) return 'unknown';
  if (!isPidAlive(stamp.pid)) return 'dead';
  if (stamp.started === '') return 'alive';
  const now = processStartTime(stamp.pid);
  // '' here means /proc went away between the two calls (the process just exited) or is unreadable: trust kill(0).
  return now === '' || now === stamp.started ? 'alive' : 'dead';
}

/** Reads a stamp from parsed JSON; undefined when the shape is wrong. */
export function parseStamp(value: unknown): OwnerStamp | undefined {
  const v = value as Partial<Record<keyof OwnerStamp, unknown>> | null;
  if (v === null || typeof v !== 'object') return undefined;
  if (typeof v.host !== 'string' || typeof v.pid !== 'number' || typeof v.token !== 'string') return undefined;
  // Files of older versions have no scope or start time: they are then judged by heartbeat, never by a reused pid.
  return {
    host: v.host,
    pid: v.pid,
    scope: typeof v.scope === 'string' ? v.scope : '',
    started: typeof v.started === 'string' ? v.started : '',
    token: v.token,
  };
}

/** "pid 123 on host gpu-box": how messages name an owner. */
export function describeOwner(stamp: OwnerStamp): string {
  return `pid ${stamp.pid} on ${stamp.host}`;
}
