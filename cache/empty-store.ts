/**
 * The cache as seen by a read-only command before any cache folder exists: every key misses. Looking (`plan`,
 * `results`) must not create a cache folder, and with this the commands need no "no cache yet" branches.
 */
import type {CacheLookup, CacheStore, EntrySummary, GcReport, HeldLock, Staging, VerifyReport} from './store.js';

/** A store with nothing in it that refuses writes. */
export class EmptyStore implements CacheStore {
  readonly location: string;

  constructor(location: string) {
    this.location = location;
  }

  async get(): Promise<CacheLookup> {
    return {status: 'miss'};
  }

  stage(): Promise<Staging> {
    return Promise.reject(new Error('Internal error: a read-only command tried to write to the cache'));
  }

  lock(): Promise<HeldLock> {
    return Promise.reject(new Error('Internal error: a read-only command tried to lock a cache key'));
  }

  async tryLock(): Promise<HeldLock | undefined> {
    return undefined;
  }

  async list(): Promise<EntrySummary[]> {
    return [];
  }

  async verify(): Promise<VerifyReport> {
    return {checked: 0, problems: []};
  }

  async remove(): Promise<boolean> {
    return false;
  }

  async gc(): Promise<GcReport> {
    return {removed: [], freedBytes: 0, remainingBytes: 0, strayRemoved: 0, leasedKept: 0};
  }
}
