/**
 * Cache keys: xxhash64 (16 hex digits) of the canonical JSON of a node instance's KeyParts.
 *
 * Everything that can change a node's outputs goes in (type, implementation hash, resolved params, seed, the keys of
 * its inputs, declared environment) and nothing else, so reformatting the YAML or reordering keys keeps every key,
 * and changing a value changes exactly that node's key and, through the Merkle chain of input keys, its dependents'.
 */
import {xxhashApi} from '../cache/content-hash.js';
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

/** The process-wide hasher (the wasm module is compiled once, for the cache's hashing too). */
export function getHasher(): Promise<Hasher> {
  hasher ??= xxhashApi().then((api) => ({
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

/** The canonical JSON texts of the parts of a key, for `keyOfTexts`. */
export interface KeyTexts {
  /** `canonicalJson(parts.environment)`: the same for every instance of a plan. */
  readonly environment: string;
  readonly implementation: string;
  /** `canonicalJson(parts.inputs)`. */
  readonly inputs: string;
  /** `canonicalJson(parts.params)`: the same for the repeats of one grid variant. */
  readonly params: string;
  readonly seed: number;
  readonly type: string;
}

/**
 * The key `computeKey` gives the same parts, from texts computed once where instances share them (planning a big
 * grid hashes tens of thousands of keys). The members are written in canonical (sorted) order.
 */
export function keyOfTexts(hasher: Hasher, texts: KeyTexts): CacheKey {
  const text =
    `{"environment":${texts.environment},"implementation":${JSON.stringify(texts.implementation)},"inputs":${texts.inputs},` +
    `"params":${texts.params},"seed":${canonicalText(texts.seed)},"type":${JSON.stringify(texts.type)}}`;
  return hasher.hashString(text) as CacheKey;
}

/** The canonical text of a value the analyzer has already checked (a failure here is a bug, not a user error). */
export function canonicalText(value: unknown): string {
  const json = canonicalJson(value);
  if (!json.ok) throw new Error(`Internal error: key parts are not JSON-safe at ${json.error.path.join('.')} (${json.error.reason})`);
  return json.value;
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
