/**
 * Cache keys: xxhash64 (16 hex digits) of the canonical JSON of a node instance's KeyParts.
 *
 * Everything that can change a node's outputs goes in (type, implementation hash, resolved params, seed, the keys of
 * its inputs, declared environment) and nothing else, so reformatting the YAML or reordering keys keeps every key,
 * and changing a value changes exactly that node's key and, through the Merkle chain of input keys, its dependents'.
 */
import xxhash from 'xxhash-wasm';
import type {CacheKey, KeyParts} from './plan.js';
import {canonicalJson} from './canonical-json.js';

/** Synchronous hashing functions, available once the wasm module is instantiated. */
export interface Hasher {
  /** xxhash64 of a string's UTF-8 bytes, as 16 lower-case hex digits. */
  hashString(text: string): string;
  /** xxhash64 of raw bytes, as 16 lower-case hex digits. */
  hashBytes(bytes: Uint8Array): string;
}

let hasher: Promise<Hasher> | undefined;

/** The process-wide hasher (the wasm module is compiled once). */
export function getHasher(): Promise<Hasher> {
  hasher ??= xxhash().then((api) => ({
    hashString: (text) => api.h64ToString(text),
    hashBytes: (bytes) => api.h64Raw(bytes).toString(16).padStart(16, '0'),
  }));
  return hasher;
}

/**
 * The key of a node instance. KeyParts are built from validated, JSON-checked values, so a value without canonical
 * JSON here is a bug in the analyzer, not a user error.
 */
export function computeKey(hasher: Hasher, parts: KeyParts): CacheKey {
  const json = canonicalJson(parts);
  if (!json.ok) {
    throw new Error(`Internal error: key parts are not JSON-safe at ${json.error.path.join('.')} (${json.error.reason})`);
  }
  return hasher.hashString(json.value) as CacheKey;
}

/**
 * A deterministic seed for instance `index` of node `name`: a hash of things that do not depend on the pipeline file
 * (so moving or renaming the file keeps seeds and keys), mixed with the node's optional `seed:` field so users can
 * draw a fresh set of seeds. Returns an unsigned 32-bit integer.
 */
export function instanceSeed(hasher: Hasher, name: string, index: number, seedField: number | undefined): number {
  const json = canonicalJson({name, index, seed: seedField ?? null});
  if (!json.ok) throw new Error(`Internal error: seed material is not JSON-safe`);
  return Number.parseInt(hasher.hashString(json.value).slice(0, 8), 16);
}
