/**
 * Differentiable Siamese Augmentation (DSA, Zhao & Bilen 2021), as used by MTT: differentiable with respect to the
 * images at first and second order, because it runs inside the unrolled inner loop of trajectory matching.
 *
 * Two steps, so that a draw can be inspected, reused (Siamese) or replayed:
 * - {@link sampleDsa} draws the random parameters in plain JavaScript from a seeded {@link Rng} (never on the tape);
 * - {@link applyDsa} applies them to a batch with tfjs ops.
 * {@link diffAugment} does both.
 *
 * Parameters follow the reference (`ParamDiffAug`): brightness +-0.5, saturation x U[0, 2), contrast x U[0.5, 1.5),
 * crop = integer translation by up to round(0.125 * size) pixels with a zero border, cutout = a zero square of
 * round(0.5 * size) pixels, horizontal flip with p 0.5, scale by U[1/1.2, 1.2] per axis and rotation by U[-15, 15]
 * degrees, both through an affine sampling grid (align_corners = true, as MTT passes it) with bilinear interpolation
 * and zeros outside. Mode 'S' picks one family per call (per batch) with per-sample parameters; 'color' applies
 * brightness, saturation and contrast in turn.
 *
 * Spatial transforms are gathers: tfjs has no gradient for tf.image.transform, while GatherV2's gradient
 * (UnsortedSegmentSum) and that one's gradient (a gather) exist, so a gather is differentiable to any order. Each
 * output pixel reads 1 (crop, flip) or 4 (bilinear: scale, rotate) source pixels of the batch flattened to
 * [N*H*W, C], with one extra all-zero row that out-of-image taps point to (the zero padding), and the taps are mixed
 * with constant weights. A dense per-sample interpolation matrix applied with matMul would also work but costs
 * (H*W)^2 per sample (4 MB at 32x32, 1 GB for a batch of 256), against 4 taps per pixel here.
 */
import * as tf from '@tensorflow/tfjs-core';
import {createRng, type Rng} from './rng.js';

/** The augmentation families of a strategy string. */
export const DSA_FAMILIES = ['color', 'crop', 'cutout', 'flip', 'scale', 'rotate'] as const;
export type DsaFamily = (typeof DSA_FAMILIES)[number];

/** The MTT default strategy. */
export const DEFAULT_DSA_STRATEGY = 'color_crop_cutout_flip_scale_rotate';

/** Augmentation strengths (the reference `ParamDiffAug`). */
export interface DsaParams {
  readonly probFlip: number;
  readonly ratioScale: number;
  /** Degrees. */
  readonly ratioRotate: number;
  readonly ratioCropPad: number;
  readonly ratioCutout: number;
  readonly brightness: number;
  readonly saturation: number;
  readonly contrast: number;
}

/** The reference values. */
export const DEFAULT_DSA_PARAMS: DsaParams = {
  probFlip: 0.5,
  ratioScale: 1.2,
  ratioRotate: 15,
  ratioCropPad: 0.125,
  ratioCutout: 0.5,
  brightness: 1.0,
  saturation: 2.0,
  contrast: 0.5,
};

/** How a draw is made. */
export interface DsaOptions {
  /** Families joined by '_'. Default {@link DEFAULT_DSA_STRATEGY}. */
  readonly strategy?: string;
  /** 'S': one family per call (the MTT default); 'M': every family in turn. Default 'S'. */
  readonly mode?: 'S' | 'M';
  readonly params?: Partial<DsaParams>;
  /**
   * Siamese batch mode (the reference `batchmode`): one set of parameters shared by every sample, so the draw applies
   * to batches of any size, e.g. a real and a synthetic batch. Default false (per-sample parameters).
   */
  readonly shared?: boolean;
}

/**
 * One primitive transform with its parameters; arrays hold one entry per sample, or a single entry shared by all.
 * Coordinates: `tx` shifts rows (height), `ty` columns (width); `cx`/`cy` are the cutout centres (row, column).
 */
export type DsaOp =
  | {readonly kind: 'brightness'; readonly shift: Float32Array}
  | {readonly kind: 'saturation'; readonly factor: Float32Array}
  | {readonly kind: 'contrast'; readonly factor: Float32Array}
  | {readonly kind: 'crop'; readonly tx: Int32Array; readonly ty: Int32Array}
  | {readonly kind: 'cutout'; readonly size: readonly [number, number]; readonly cx: Int32Array; readonly cy: Int32Array}
  | {readonly kind: 'flip'; readonly flip: Uint8Array}
  | {readonly kind: 'scale'; readonly sx: Float64Array; readonly sy: Float64Array}
  | {readonly kind: 'rotate'; readonly radians: Float64Array};

/** A sampled augmentation: the chosen families' ops, applied in order. */
export interface DsaDraw {
  /** The families that were chosen (one in mode 'S'). */
  readonly families: readonly DsaFamily[];
  readonly ops: readonly DsaOp[];
}

/** Parses a strategy string; an unknown family is an error value naming it. */
export function parseStrategy(
  strategy: string,
): {readonly ok: true; readonly value: DsaFamily[]} | {readonly ok: false; readonly error: string} {
  const parts = strategy.split('_').filter((p) => p.length > 0);
  if (parts.length === 0) return {ok: false, error: 'the DSA strategy is empty'};
  const out: DsaFamily[] = [];
  for (const p of parts) {
    if (!(DSA_FAMILIES as readonly string[]).includes(p)) {
      return {ok: false, error: `unknown DSA family '${p}' (known: ${DSA_FAMILIES.join(', ')})`};
    }
    out.push(p as DsaFamily);
  }
  return {ok: true, value: out};
}

/** int(size * ratio + 0.5), the reference's rounding of the crop shift and cutout size. */
function scaled(size: number, ratio: number): number {
  return Math.floor(size * ratio + 0.5);
}

function draws<T extends Float32Array | Float64Array | Int32Array | Uint8Array>(
  make: (n: number) => T,
  n: number,
  f: () => number,
): T {
  const a = make(n);
  for (let i = 0; i < n; i++) a[i] = f();
  return a;
}

function sampleFamily(family: DsaFamily, rng: Rng, n: number, h: number, w: number, p: DsaParams): DsaOp[] {
  const f32 = (m: number) => new Float32Array(m);
  const f64 = (m: number) => new Float64Array(m);
  const i32 = (m: number) => new Int32Array(m);
  switch (family) {
    case 'color':
      return [
        {kind: 'brightness', shift: draws(f32, n, () => (rng.uniform() - 0.5) * p.brightness)},
        {kind: 'saturation', factor: draws(f32, n, () => rng.uniform() * p.saturation)},
        {kind: 'contrast', factor: draws(f32, n, () => rng.uniform() + p.contrast)},
      ];
    case 'crop': {
      const sh = scaled(h, p.ratioCropPad);
      const sw = scaled(w, p.ratioCropPad);
      return [
        {kind: 'crop', tx: draws(i32, n, () => rng.int(-sh, sh + 1)), ty: draws(i32, n, () => rng.int(-sw, sw + 1))},
      ];
    }
    case 'cutout': {
      const ch = scaled(h, p.ratioCutout);
      const cw = scaled(w, p.ratioCutout);
      // Centres in 0..size (inclusive for even cutouts), as the reference draws them.
      return [
        {
          kind: 'cutout',
          size: [ch, cw],
          cx: draws(i32, n, () => rng.int(0, h + (1 - (ch % 2)))),
          cy: draws(i32, n, () => rng.int(0, w + (1 - (cw % 2)))),
        },
      ];
    }
    case 'flip':
      return [{kind: 'flip', flip: draws((m) => new Uint8Array(m), n, () => (rng.uniform() < p.probFlip ? 1 : 0))}];
    case 'scale': {
      const r = p.ratioScale;
      return [
        {
          kind: 'scale',
          sx: draws(f64, n, () => rng.uniform() * (r - 1 / r) + 1 / r),
          sy: draws(f64, n, () => rng.uniform() * (r - 1 / r) + 1 / r),
        },
      ];
    }
    case 'rotate':
      return [{kind: 'rotate', radians: draws(f64, n, () => ((rng.uniform() - 0.5) * 2 * p.ratioRotate * Math.PI) / 180)}];
    default: {
      const never: never = family;
      throw new Error(`dsa: unknown family ${String(never)}`);
    }
  }
}

/**
 * Draws the augmentation of a batch of `n` images of `h` x `w` pixels. Throws for an invalid strategy (validate
 * user input with {@link parseStrategy} first).
 */
export function sampleDsa(rng: Rng, n: number, h: number, w: number, options: DsaOptions = {}): DsaDraw {
  const parsed = parseStrategy(options.strategy ?? DEFAULT_DSA_STRATEGY);
  if (!parsed.ok) throw new Error(`dsa: ${parsed.error}`);
  const params = {...DEFAULT_DSA_PARAMS, ...options.params};
  const count = options.shared === true ? 1 : n;
  const mode = options.mode ?? 'S';
  let families: DsaFamily[];
  switch (mode) {
    case 'S':
      families = [parsed.value[rng.int(0, parsed.value.length)]!];
      break;
    case 'M':
      families = parsed.value;
      break;
    default: {
      const never: never = mode;
      throw new Error(`dsa: unknown mode ${String(never)}`);
    }
  }
  return {families, ops: families.flatMap((f) => sampleFamily(f, rng, count, h, w, params))};
}

function at<T extends ArrayLike<number>>(a: T, i: number, n: number): number {
  if (a.length !== 1 && a.length !== n) throw new Error(`dsa: a draw for ${a.length} samples applied to ${n}`);
  return a[a.length === 1 ? 0 : i]!;
}

/** A per-sample factor as a [N,1,1,1] constant. */
function perSample(a: Float32Array, n: number): tf.Tensor4D {
  return tf.tensor4d(Float32Array.from({length: n}, (_, i) => at(a, i, n)), [n, 1, 1, 1]);
}

/**
 * Resamples `x` from taps: out[p] = sum_k weight[k][p] * x_flat[index[k][p]], where index N*H*W is the zero row.
 * Only the constant indices and weights depend on the draw, so the result is linear in x (and differentiable).
 */
function resample(x: tf.Tensor4D, index: Int32Array[], weight: Float32Array[] | undefined): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const rows = n * h * w;
  const padded = tf.concat([tf.reshape(x, [rows, c]), tf.zeros([1, c])], 0);
  let acc: tf.Tensor | undefined;
  index.forEach((idx, k) => {
    let tap: tf.Tensor = tf.gather(padded, tf.tensor1d(idx, 'int32'));
    const wk = weight?.[k];
    if (wk !== undefined) tap = tf.mul(tap, tf.tensor2d(wk, [rows, 1]));
    acc = acc === undefined ? tap : tf.add(acc, tap);
  });
  if (acc === undefined) throw new Error('Internal error: resample without taps');
  return tf.reshape(acc, [n, h, w, c]);
}

/** Integer shift with a zero border: out[i, j] = x[i + tx, j + ty], 0 outside the image. */
function crop(x: tf.Tensor4D, tx: Int32Array, ty: Int32Array): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const zero = n * h * w;
  const idx = new Int32Array(zero);
  for (let b = 0, p = 0; b < n; b++) {
    const dx = at(tx, b, n);
    const dy = at(ty, b, n);
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++, p++) {
        const si = i + dx;
        const sj = j + dy;
        idx[p] = si >= 0 && si < h && sj >= 0 && sj < w ? (b * h + si) * w + sj : zero;
      }
    }
  }
  return resample(x, [idx], undefined);
}

function flip(x: tf.Tensor4D, flags: Uint8Array): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const idx = new Int32Array(n * h * w);
  for (let b = 0, p = 0; b < n; b++) {
    const f = at(flags, b, n) !== 0;
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < w; j++, p++) idx[p] = (b * h + i) * w + (f ? w - 1 - j : j);
    }
  }
  return resample(x, [idx], undefined);
}

function cutout(x: tf.Tensor4D, size: readonly [number, number], cx: Int32Array, cy: Int32Array): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const mask = new Float32Array(n * h * w).fill(1);
  for (let b = 0; b < n; b++) {
    // Rows cx - size/2 .. cx - size/2 + size - 1, clipped to the image (the reference clamps the indices).
    const r0 = Math.max(0, at(cx, b, n) - Math.floor(size[0] / 2));
    const r1 = Math.min(h - 1, at(cx, b, n) - Math.floor(size[0] / 2) + size[0] - 1);
    const c0 = Math.max(0, at(cy, b, n) - Math.floor(size[1] / 2));
    const c1 = Math.min(w - 1, at(cy, b, n) - Math.floor(size[1] / 2) + size[1] - 1);
    for (let i = r0; i <= r1; i++) mask.fill(0, (b * h + i) * w + c0, (b * h + i) * w + c1 + 1);
  }
  return tf.mul(x, tf.tensor4d(mask, [n, h, w, 1]));
}

/**
 * Bilinear sampling through a per-sample 2x2 affine map in normalised coordinates (torch affine_grid + grid_sample,
 * align_corners = true, zeros padding): the output pixel at normalised (u, v) reads the input at
 * (a00 u + a01 v, a10 u + a11 v), u along the width and v along the height.
 */
function affine(x: tf.Tensor4D, matrix: (b: number) => readonly [number, number, number, number]): tf.Tensor4D {
  const [n, h, w] = x.shape;
  const rows = n * h * w;
  const idx = [new Int32Array(rows), new Int32Array(rows), new Int32Array(rows), new Int32Array(rows)];
  const wts = [new Float32Array(rows), new Float32Array(rows), new Float32Array(rows), new Float32Array(rows)];
  const norm = (k: number, size: number) => (size > 1 ? -1 + (2 * k) / (size - 1) : 0);
  const pix = (u: number, size: number) => ((u + 1) / 2) * (size - 1);
  // One bilinear tap: taps outside the image read the zero row with weight 0 (zeros padding).
  const tap = (ix: Int32Array, wx: Float32Array, p: number, b: number, yy: number, xx: number, wt: number): void => {
    const inside = yy >= 0 && yy < h && xx >= 0 && xx < w;
    ix[p] = inside ? (b * h + yy) * w + xx : rows;
    wx[p] = inside ? wt : 0;
  };
  for (let b = 0, p = 0; b < n; b++) {
    const [a00, a01, a10, a11] = matrix(b);
    for (let i = 0; i < h; i++) {
      const v = norm(i, h);
      for (let j = 0; j < w; j++, p++) {
        const u = norm(j, w);
        const sx = pix(a00 * u + a01 * v, w);
        const sy = pix(a10 * u + a11 * v, h);
        const x0 = Math.floor(sx);
        const y0 = Math.floor(sy);
        const fx = sx - x0;
        const fy = sy - y0;
        tap(idx[0]!, wts[0]!, p, b, y0, x0, (1 - fy) * (1 - fx));
        tap(idx[1]!, wts[1]!, p, b, y0, x0 + 1, (1 - fy) * fx);
        tap(idx[2]!, wts[2]!, p, b, y0 + 1, x0, fy * (1 - fx));
        tap(idx[3]!, wts[3]!, p, b, y0 + 1, x0 + 1, fy * fx);
      }
    }
  }
  return resample(x, idx, wts);
}

function applyOp(x: tf.Tensor4D, op: DsaOp): tf.Tensor4D {
  const n = x.shape[0];
  switch (op.kind) {
    case 'brightness':
      return tf.add(x, perSample(op.shift, n));
    case 'saturation': {
      const m = tf.mean(x, 3, true);
      return tf.add(tf.mul(tf.sub(x, m), perSample(op.factor, n)), m);
    }
    case 'contrast': {
      const m = tf.mean(x, [1, 2, 3], true);
      return tf.add(tf.mul(tf.sub(x, m), perSample(op.factor, n)), m);
    }
    case 'crop':
      return crop(x, op.tx, op.ty);
    case 'cutout':
      return cutout(x, op.size, op.cx, op.cy);
    case 'flip':
      return flip(x, op.flip);
    case 'scale':
      return affine(x, (b) => [at(op.sx, b, n), 0, 0, at(op.sy, b, n)]);
    case 'rotate':
      return affine(x, (b) => {
        const t = at(op.radians, b, n);
        return [Math.cos(t), -Math.sin(t), Math.sin(t), Math.cos(t)];
      });
    default: {
      const never: never = op;
      throw new Error(`dsa: unknown op ${JSON.stringify(never)}`);
    }
  }
}

/** Applies a draw to NHWC images; differentiable with respect to `x` (to any order). */
export function applyDsa(x: tf.Tensor4D, draw: DsaDraw): tf.Tensor4D {
  return tf.tidy(() => draw.ops.reduce((acc, op) => applyOp(acc, op), x));
}

/**
 * Draws and applies DSA to a batch. `rng` is a seed or a generator; with the same seed the result is the same.
 * Returns a new tensor (the input when the strategy draws nothing is never returned as-is: ops always copy).
 */
export function diffAugment(x: tf.Tensor4D, rng: Rng | number, options: DsaOptions = {}): tf.Tensor4D {
  const r = typeof rng === 'number' ? createRng(rng) : rng;
  const [n, h, w] = x.shape;
  return applyDsa(x, sampleDsa(r, n, h, w, options));
}

/**
 * Siamese augmentation of two batches with the same parameters (same family, same per-sample parameters). Batches of
 * equal size share per-sample parameters; otherwise pass `shared: true` so one parameter set covers both.
 */
export function diffAugmentSiamese(
  a: tf.Tensor4D,
  b: tf.Tensor4D,
  rng: Rng | number,
  options: DsaOptions = {},
): [tf.Tensor4D, tf.Tensor4D] {
  const r = typeof rng === 'number' ? createRng(rng) : rng;
  if (a.shape[1] !== b.shape[1] || a.shape[2] !== b.shape[2]) throw new Error('dsa: Siamese batches differ in image size');
  if (options.shared !== true && a.shape[0] !== b.shape[0]) {
    throw new Error('dsa: Siamese batches of different sizes need shared: true');
  }
  const draw = sampleDsa(r, a.shape[0], a.shape[1], a.shape[2], options);
  return [applyDsa(a, draw), applyDsa(b, draw)];
}
