/**
 * `Conv2DBackpropInput` at stride s > 1 by sub-pixel decomposition, with no multiplications by zeros.
 *
 * In padded coordinates z = y + top, write z = s*q + r. The output position z receives dy[q - t] * W[r + s*t] for
 * t = 0..T_r-1, where T_r = ceil((K - r) / s). So each phase pair (rh, rw) is a stride-1 "full" correlation of dy
 * with a small sub-filter: the taps W[rh + s*t, rw + s*u], reversed, with in/out channels swapped. The s*s phase
 * results are then interleaved into dx in one JS pass. The conv work equals that of the forward convolution, where
 * convolving a zero-spread dy does s*s times more.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {TensorInfo} from '@tensorflow/tfjs-core';
import {callKernel, release} from './call-kernel.js';
import type {HeapBackend} from './heap-backend.js';

const BACKEND = 'wasm';

/** One phase along one axis: its taps and the range of q it must produce. */
interface Phase {
  readonly r: number;
  /** Number of taps, ceil((K - r) / s); 0 when the phase receives nothing. */
  readonly taps: number;
  readonly qMin: number;
  /** Number of output positions of this phase, q in [qMin, qMin + length). */
  readonly length: number;
}

function phases(k: number, s: number, pad: number, size: number): Phase[] {
  const out: Phase[] = [];
  for (let r = 0; r < s; r++) {
    const taps = Math.max(0, Math.ceil((k - r) / s));
    const qMin = Math.ceil((pad - r) / s);
    const qMax = Math.floor((pad + size - 1 - r) / s);
    out.push({r, taps, qMin, length: Math.max(0, qMax - qMin + 1)});
  }
  return out;
}

/** Sub-filter [Th, Tw, O, C]: taps W[rh + s*t, rw + s*u, c, o], reversed in t and u, channels swapped. */
function subFilter(backend: object, filter: TensorInfo, ph: Phase, pw: Phase, sh: number, sw: number): TensorInfo {
  const [, kw, c, o] = filter.shape as [number, number, number, number];
  const be = backend as HeapBackend;
  const out = be.makeOutput([ph.taps, pw.taps, o, c], 'float32');
  const src = be.typedArrayFromHeap(filter);
  const dst = be.typedArrayFromHeap(out);
  for (let t = 0; t < ph.taps; t++) {
    const y = ph.r + sh * (ph.taps - 1 - t);
    for (let u = 0; u < pw.taps; u++) {
      const x = pw.r + sw * (pw.taps - 1 - u);
      const base = (y * kw + x) * c * o;
      const dbase = (t * pw.taps + u) * o * c;
      for (let ci = 0; ci < c; ci++) {
        for (let oi = 0; oi < o; oi++) dst[dbase + oi * c + ci] = src[base + ci * o + oi] as number;
      }
    }
  }
  return out;
}

/**
 * One phase: out[q] = sum_t Wsub[t] dy[q - T + 1 + t] for q in [qMin, qMin + length), as a valid stride-1 conv of dy
 * padded (or cropped) so that exactly those positions come out.
 */
function phaseConv(backend: object, dy: TensorInfo, sub: TensorInfo, ph: Phase, pw: Phase): TensorInfo {
  const [b, oh, ow, o] = dy.shape as [number, number, number, number];
  // Input row of output q's first tap is q - T + 1; pad the front so that q = qMin starts at row 0.
  const ft = ph.taps - 1 - ph.qMin;
  const fl = pw.taps - 1 - pw.qMin;
  const bt = ph.length + ph.taps - 1 - oh - ft;
  const bl = pw.length + pw.taps - 1 - ow - fl;
  let src = dy;
  if (ft < 0 || fl < 0 || bt < 0 || bl < 0) {
    const ct = Math.max(0, -ft);
    const cl = Math.max(0, -fl);
    src = callKernel(BACKEND, backend, 'Slice', {x: dy}, {
      begin: [0, ct, cl, 0],
      size: [b, oh - ct - Math.max(0, -bt), ow - cl - Math.max(0, -bl), o],
    });
  }
  const out = callKernel(BACKEND, backend, 'Conv2D', {x: src, filter: sub}, {
    strides: [1, 1],
    pad: [
      [0, 0],
      [Math.max(0, ft), Math.max(0, bt)],
      [Math.max(0, fl), Math.max(0, bl)],
      [0, 0],
    ],
    dataFormat: 'NHWC',
    dilations: [1, 1],
  });
  if (src !== dy) release(backend, src);
  return out;
}

/** dx [B, H, W, C] of a strided convolution (dilation 1, NHWC, float32). */
export function stridedBackpropInput(
  backend: object,
  dy: TensorInfo,
  filter: TensorInfo,
  info: tf.backend_util.Conv2DInfo,
): TensorInfo {
  const {strideHeight: sh, strideWidth: sw, inHeight: h, inWidth: w, inChannels: c, batchSize: b} = info;
  const rows = phases(info.filterHeight, sh, info.padInfo.top, h);
  const cols = phases(info.filterWidth, sw, info.padInfo.left, w);
  const parts: {ph: Phase; pw: Phase; t: TensorInfo}[] = [];
  for (const ph of rows) {
    for (const pw of cols) {
      if (ph.taps === 0 || pw.taps === 0 || ph.length === 0 || pw.length === 0) continue;
      const sub = subFilter(backend, filter, ph, pw, sh, sw);
      parts.push({ph, pw, t: phaseConv(backend, dy, sub, ph, pw)});
      release(backend, sub);
    }
  }
  const be = backend as HeapBackend;
  const out = be.makeOutput([b, h, w, c], 'float32');
  const dst = be.typedArrayFromHeap(out);
  // Positions no phase writes (taps === 0, e.g. a 1x1 kernel at stride 2) get zero gradient.
  if (parts.length < rows.length * cols.length) dst.fill(0);
  const {top, left} = info.padInfo;
  for (const {ph, pw, t} of parts) {
    const src = be.typedArrayFromHeap(t);
    for (let n = 0; n < b; n++) {
      for (let i = 0; i < ph.length; i++) {
        const y = sh * (ph.qMin + i) + ph.r - top;
        for (let j = 0; j < pw.length; j++) {
          const x = sw * (pw.qMin + j) + pw.r - left;
          const s0 = ((n * ph.length + i) * pw.length + j) * c;
          const d0 = ((n * h + y) * w + x) * c;
          for (let k = 0; k < c; k++) dst[d0 + k] = src[s0 + k] as number;
        }
      }
    }
    release(backend, t);
  }
  return out;
}
