/**
 * A key looked up in a cache store, as the scheduler and the instance lifecycle use it. Its own module so that a
 * fully cached run, which only looks keys up, loads nothing of the lifecycle that computes them.
 */
import type {CacheEntry, CacheStore} from '../cache/store.js';
import type {Manifest} from '../cache/manifest.js';
import {unreachable} from './unreachable.js';

/** What a look-up of a key found: a hit carries the manifest, and the local entry when there is one here. */
export type KeyLookup =
  | {readonly status: 'hit'; readonly manifest: Manifest; readonly entry?: CacheEntry}
  | {readonly status: 'miss'}
  /** A damaged entry (already moved out of the way): a miss, with a reason for an event. */
  | {readonly status: 'corrupt'; readonly reason: string};

/** The store's look-up as a KeyLookup. */
export async function storeLookup(store: CacheStore, key: string): Promise<KeyLookup> {
  const found = await store.get(key);
  switch (found.status) {
    case 'hit':
      return {status: 'hit', manifest: found.entry.manifest, entry: found.entry};
    case 'miss':
      return {status: 'miss'};
    case 'corrupt':
      return {status: 'corrupt', reason: found.reason};
    default:
      return unreachable(found);
  }
}
