/**
 * A small seeded pseudo-random generator (xoshiro128**, seeded through splitmix32).
 *
 * Everything random in the ML code (initialisation, shuffling, augmentation parameters) draws from this in plain
 * JavaScript rather than from tfjs' random ops, so that a seed gives the same numbers on every backend and the random
 * draws never enter the autodiff tape.
 */

/** A deterministic stream of random numbers. */
export interface Rng {
  /** Uniform in [0, 1), 32 bits of resolution. */
  uniform(): number;
  /** Uniform integer in [lo, hi) (hi exclusive, like torch.randint). */
  int(lo: number, hi: number): number;
  /** An independent child stream; the parent advances by one draw. */
  fork(): Rng;
}

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Creates a generator from an integer seed (any finite number; it is folded to 32 bits). */
export function createRng(seed: number): Rng {
  if (!Number.isFinite(seed)) throw new Error(`rng: seed must be a finite number, got ${seed}`);
  // Fold high bits in so that seeds above 2^32 still differ.
  const folded = (Math.floor(seed) ^ Math.floor(seed / 4294967296)) >>> 0;
  const sm = splitmix32(folded);
  let a = sm();
  let b = sm();
  let c = sm();
  let d = sm();
  // xoshiro must not start from the all-zero state.
  if ((a | b | c | d) === 0) a = 1;
  const next = (): number => {
    const result = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    return result;
  };
  const rng: Rng = {
    uniform: () => next() / 4294967296,
    int: (lo, hi) => {
      if (!(hi > lo)) throw new Error(`rng.int: empty range [${lo}, ${hi})`);
      return lo + Math.floor((next() / 4294967296) * (hi - lo));
    },
    fork: () => createRng(next()),
  };
  return rng;
}

/** Fisher-Yates permutation of 0..n-1. */
export function permutation(rng: Rng, n: number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const t = out[i]!;
    out[i] = out[j]!;
    out[j] = t;
  }
  return out;
}
