/**
 * Gradient checks for tests: analytic gradients (tf.grad) against central finite differences, at first order
 * (`gradcheck`) and at second order through unrolled SGD steps (`gradgradcheck`, the trajectory-matching shape of
 * problem), plus `withBackend` so one suite runs the same checks on cpu and on wasm.
 *
 * Finite differences run in float32 (tfjs has no float64), so the defaults are float32-sized: eps 1e-2, and a
 * coordinate fails only when its error exceeds `atol + tol * scale`, where scale is the largest numeric gradient
 * among the checked coordinates. The step actually taken (the float32 rounding of x +- eps) is used as the
 * denominator, in float64, which removes one avoidable error term.
 */
import * as tf from '@tensorflow/tfjs-core';
import {AssertionError} from 'node:assert/strict';
import {activateBackend} from '../../ml/backend.js';

/** Options shared by the checks. */
export interface GradcheckOptions {
  /** Finite-difference half step. Default 1e-2 (float32: smaller steps drown in rounding). */
  readonly eps?: number;
  /** Relative tolerance, against the largest numeric gradient. Default 1e-2. */
  readonly tol?: number;
  /** Absolute tolerance, for gradients that are (nearly) zero. Default 1e-4. */
  readonly atol?: number;
  /** At most this many coordinates are checked; bigger tensors are sampled. Default 48. */
  readonly maxCoords?: number;
  /** Seed of the coordinate sample. Default 1. */
  readonly seed?: number;
}

/** One checked coordinate. */
export interface CoordError {
  /** Flat index into the tensor. */
  readonly index: number;
  readonly analytic: number;
  readonly numeric: number;
  readonly absErr: number;
}

/** Outcome of a check. */
export interface GradcheckResult {
  /** Largest |analytic - numeric| over the checked coordinates. */
  readonly maxAbsErr: number;
  /** maxAbsErr divided by `scale`. */
  readonly maxRel: number;
  /** Largest |numeric| over the checked coordinates. */
  readonly scale: number;
  /** How many coordinates were checked. */
  readonly checked: number;
  /** Coordinates whose error exceeds atol + tol * scale, worst first. */
  readonly failures: readonly CoordError[];
  /** True when there are no failures. */
  readonly ok: boolean;
}

/** Deterministic coordinate sample (mulberry32): the same coordinates on every backend and every run. */
function sampleIndices(size: number, max: number, seed: number): number[] {
  if (size <= max) return Array.from({length: size}, (_, i) => i);
  let s = seed >>> 0;
  const rand = (): number => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const picked = new Set<number>();
  while (picked.size < max) picked.add(Math.floor(rand() * size));
  return [...picked].sort((a, b) => a - b);
}

function evalScalar(f: (x: tf.Tensor) => tf.Scalar, values: Float32Array, shape: readonly number[]): number {
  return tf.tidy(() => {
    const out = f(tf.tensor(values, [...shape], 'float32'));
    const v = out.dataSync()[0];
    if (v === undefined) throw new Error('gradcheck: the function returned an empty tensor');
    return v;
  });
}

/**
 * Compares tf.grad(f)(x) with central finite differences of f at (a sample of) the coordinates of x.
 * `f` must be deterministic and must not keep tensors; `x` is not modified or disposed.
 */
export function gradcheck(
  f: (x: tf.Tensor) => tf.Scalar,
  x: tf.Tensor,
  options: GradcheckOptions = {},
): GradcheckResult {
  const eps = options.eps ?? 1e-2;
  const tol = options.tol ?? 1e-2;
  const atol = options.atol ?? 1e-4;
  const base = Float32Array.from(x.dataSync());
  const analytic = tf.tidy(() => tf.grad(f)(x).dataSync().slice());
  const coords: CoordError[] = [];
  for (const i of sampleIndices(base.length, options.maxCoords ?? 48, options.seed ?? 1)) {
    const x0 = base[i] ?? 0;
    const plus = Math.fround(x0 + eps);
    const minus = Math.fround(x0 - eps);
    base[i] = plus;
    const fp = evalScalar(f, base, x.shape);
    base[i] = minus;
    const fm = evalScalar(f, base, x.shape);
    base[i] = x0;
    const numeric = (fp - fm) / (plus - minus);
    const a = analytic[i] ?? Number.NaN;
    coords.push({index: i, analytic: a, numeric, absErr: Math.abs(a - numeric)});
  }
  // NaN must fail, so compare with negations rather than Math.max alone.
  const scale = coords.reduce((m, c) => Math.max(m, Math.abs(c.numeric)), 0);
  const maxAbsErr = coords.reduce((m, c) => (Number.isNaN(c.absErr) || c.absErr > m ? c.absErr : m), 0);
  const limit = atol + tol * scale;
  const failures = coords.filter((c) => !(c.absErr <= limit)).sort((p, q) => q.absErr - p.absErr);
  return {
    maxAbsErr,
    maxRel: scale > 0 ? maxAbsErr / scale : maxAbsErr,
    scale,
    checked: coords.length,
    failures,
    ok: failures.length === 0,
  };
}

/** Options of the second-order check. */
export interface GradgradcheckOptions extends GradcheckOptions {
  /** Inner SGD learning rate. Default 0.5. */
  readonly lr?: number;
  /** Number of unrolled inner steps. Default 1. */
  readonly steps?: number;
  /** Which argument the outer gradient is taken for. Default 'x'. */
  readonly wrt?: 'x' | 'w';
  /**
   * The outer loss is sum((W_N - target)^2) (default: no target, sum(W_N^2)). Passing the start point W makes the
   * loss small, as in MTT's numerator, which keeps float32 rounding of the loss below the meta-gradient.
   */
  readonly target?: tf.Tensor;
}

/**
 * The unrolled trajectory-matching objective: W_{k+1} = W_k - lr * d inner(W_k, x) / dW_k for `steps` steps
 * (nested tf.grad, so the outer tape records the inner gradient), then sum((W_N - target)^2) (target 0 by default).
 */
export function unrolledObjective(
  inner: (w: tf.Tensor, x: tf.Tensor) => tf.Scalar,
  w: tf.Tensor,
  x: tf.Tensor,
  lr = 0.5,
  steps = 1,
  target?: tf.Tensor,
): tf.Scalar {
  let wk = w;
  for (let k = 0; k < steps; k++) {
    const xk = x;
    const g = tf.grad((v: tf.Tensor) => inner(v, xk))(wk);
    wk = tf.sub(wk, tf.mul(lr, g));
  }
  return tf.sum(tf.square(target === undefined ? wk : tf.sub(wk, target)));
}

/**
 * MTT-style second-order check (PyTorch's gradgradcheck in spirit): the gradient of `unrolledObjective` with
 * respect to x (or w) against central finite differences of it.
 */
export function gradgradcheck(
  inner: (w: tf.Tensor, x: tf.Tensor) => tf.Scalar,
  w: tf.Tensor,
  x: tf.Tensor,
  options: GradgradcheckOptions = {},
): GradcheckResult {
  const lr = options.lr ?? 0.5;
  const steps = options.steps ?? 1;
  const wrt = options.wrt ?? 'x';
  switch (wrt) {
    case 'x':
      return gradcheck((xv) => unrolledObjective(inner, w, xv, lr, steps, options.target), x, options);
    case 'w':
      return gradcheck((wv) => unrolledObjective(inner, wv, x, lr, steps, options.target), w, options);
    default: {
      const never: never = wrt;
      throw new Error(`Internal error: unknown wrt ${String(never)}`);
    }
  }
}

/** A readable table of the failing coordinates (at most `limit` rows). */
export function formatGradcheck(label: string, r: GradcheckResult, limit = 8): string {
  const head =
    `${label}: ${r.ok ? 'ok' : `${r.failures.length} of ${r.checked} coordinates fail`}` +
    ` (maxAbsErr ${r.maxAbsErr.toExponential(2)}, maxRel ${r.maxRel.toExponential(2)}, scale ${r.scale.toExponential(2)})`;
  const rows = r.failures
    .slice(0, limit)
    .map(
      (c) =>
        `  [${c.index}] analytic ${c.analytic.toExponential(4)} numeric ${c.numeric.toExponential(4)}` +
        ` err ${c.absErr.toExponential(2)}`,
    );
  return [head, ...rows].join('\n');
}

/** Throws an AssertionError listing the failing coordinates when the check failed. */
export function assertGradcheck(label: string, r: GradcheckResult): void {
  if (!r.ok) throw new AssertionError({message: formatGradcheck(label, r)});
}

/** The backends the conformance suites run on. */
export type TestBackend = 'cpu' | 'wasm';

/**
 * Runs `fn` with `name` as the active tfjs backend (gradient fixes and wasm kernels installed), then restores the
 * previous backend. With `checkLeaks`, fails when `fn` leaves more live tensors than it found.
 */
export async function withBackend<T>(
  name: TestBackend,
  fn: () => T | Promise<T>,
  options: {readonly checkLeaks?: boolean} = {},
): Promise<T> {
  const previous = tf.getBackend();
  await activateBackend(name);
  const before = tf.memory().numTensors;
  try {
    const out = await fn();
    const after = tf.memory().numTensors;
    if (options.checkLeaks === true && after > before) {
      throw new AssertionError({message: `withBackend(${name}): ${after - before} tensors leaked`});
    }
    return out;
  } finally {
    if (previous && previous !== name) await tf.setBackend(previous);
  }
}
