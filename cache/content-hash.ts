/**
 * xxhash64 of file contents, streamed so that multi-gigabyte artifacts never sit in memory.
 * Only commits and `cache verify` hash; a cache hit checks sizes alone (re-hashing big artifacts on every no-op run is
 * the slowness users complain about in other runners).
 */
import {createReadStream} from 'node:fs';
import xxhash from 'xxhash-wasm';
import type {XXHashAPI} from 'xxhash-wasm';

let api: Promise<XXHashAPI> | undefined;

/** The xxhash-wasm instance, compiled once per process. */
export function xxhashApi(): Promise<XXHashAPI> {
  api ??= xxhash();
  return api;
}

/** Formats a 64-bit hash as 16 lowercase hex digits. */
export function hex64(value: bigint): string {
  return value.toString(16).padStart(16, '0');
}

/** Streams a file through xxhash64 and returns its 16-hex-digit digest. */
export async function hashFile(path: string): Promise<string> {
  const {create64} = await xxhashApi();
  const hasher = create64();
  for await (const chunk of createReadStream(path, {highWaterMark: 1 << 20})) {
    hasher.update(chunk as Buffer);
  }
  return hex64(hasher.digest());
}
