/**
 * Gradients that do less memory traffic than tfjs's own, registered once for every backend (like ml/grad-fixes.ts,
 * and checked the same way at first and second order in test/gradients.test.ts).
 *
 * - `Sum` and `Mean`: tfjs multiplies the reshaped dy by `ones(x.shape)`, which fills a full-size array in JavaScript
 *   and copies it into the backend on every step (6.4 s of a 4-step ConvNet profile on libtorch went to filling ones).
 *   Broadcasting dy instead writes each element once: on libtorch through the Tile kernel, which makes it a
 *   stride-0 view that writes nothing; elsewhere as a multiply by ones over the reduced axes only, because the other
 *   backends' Tile kernels are slow (on wasm, Tile took most of a ConvNet training step).
 * - `Tile`: tfjs's gradient handles rank 4 at most, and the broadcasts above reach it at second order on rank-5
 *   tensors (group norm). For any rank: dy viewed as [r0, d0, r1, d1, ...] summed over the repeat axes.
 * - `SplitV`: tfjs concatenates the pieces' gradients, but a piece that nothing used (the ConvNet's conv bias, which
 *   instance norm cancels) has no gradient at all (null), and concat fails on it; such pieces count as zeros.
 * - `Relu`: tfjs computes `dy * cast(step(x))`, three passes over the activations. Backends that register the fused
 *   `ReluGrad` kernel (libtorch: one pass) use it; the others keep the composite. `ReluGrad` is linear in dy and
 *   piecewise constant in x, so its own gradient is `ReluGrad(g, x)` for dy and zero for x.
 */
import * as tf from '@tensorflow/tfjs-core';
import type {GradConfig, NamedAttrMap, Tensor} from '@tensorflow/tfjs-core';
import {TORCH_BACKEND_NAME} from './libtorch/torch-backend.js';

/** The fused relu-gradient kernel's name (as TensorFlow calls the same op). */
export const RELU_GRAD = 'ReluGrad';

function saved0(saved: Tensor[]): Tensor {
  const t = saved[0];
  if (t === undefined) throw new Error('Internal error: saved tensor 0 missing');
  return t;
}

/** Backends whose Tile kernel returns a stride-0 view, so that broadcasting through it writes nothing. */
const TILE_IS_A_VIEW: ReadonlySet<string> = new Set([TORCH_BACKEND_NAME]);

/** dy of a reduction over `axes`, reshaped to keep those axes and broadcast back to `shape`. */
function spread(dy: Tensor, shape: readonly number[], axesAttr: unknown): Tensor {
  const axes = tf.util.parseAxisParam((axesAttr ?? null) as number | number[], [...shape]);
  const kept = tf.reshape(dy, shape.map((d, i) => (axes.includes(i) ? 1 : d)));
  if (TILE_IS_A_VIEW.has(tf.getBackend())) return tf.broadcastTo(kept, [...shape]);
  // Elsewhere Tile is a generic element-by-element kernel: on wasm, broadcasting a [64,1,1,128] dy to [64,32,32,128]
  // took 470 ms on one thread and 680 ms on two, most of a ConvNet step. A broadcasting multiply by ones that span
  // only the reduced axes (a small tensor) writes the same values in about 4 ms, and is exact.
  return tf.mul(kept, tf.ones(shape.map((d, i) => (axes.includes(i) ? d : 1))));
}

/** dy where x > 0, else 0: the fused kernel where the active backend has one. */
function reluGrad(dy: Tensor, x: Tensor): Tensor {
  if (tf.getKernel(RELU_GRAD, tf.getBackend()) !== undefined) {
    return tf.engine().runKernel(RELU_GRAD, {dy, x}, {}) as Tensor;
  }
  return tf.mul(dy, tf.cast(tf.step(x), 'float32'));
}

const FAST: readonly GradConfig[] = [
  {
    kernelName: 'Sum',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved0(saved);
      return {x: () => spread(dy as Tensor, x.shape, (attrs as NamedAttrMap)['axis'])};
    },
  },
  {
    kernelName: 'Mean',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved0(saved);
      const axes = tf.util.parseAxisParam(((attrs as NamedAttrMap)['axis'] ?? null) as number | number[], x.shape);
      const n = axes.reduce((p, a) => p * (x.shape[a] ?? 1), 1);
      return {x: () => tf.div(spread(dy as Tensor, x.shape, axes), n)};
    },
  },
  {
    kernelName: 'Tile',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved0(saved);
      const reps = (attrs as NamedAttrMap)['reps'] as number[];
      return {
        x: () => {
          const split = x.shape.flatMap((d, i) => [reps[i] ?? 1, d]);
          const repeatAxes = x.shape.map((_, i) => 2 * i);
          return tf.reshape(tf.sum(tf.reshape(dy as Tensor, split), repeatAxes), x.shape);
        },
      };
    },
  },
  {
    kernelName: 'SplitV',
    inputsToSave: ['x'],
    gradFunc: (dy, saved, attrs) => {
      const x = saved0(saved);
      const named = attrs as NamedAttrMap;
      const axis = tf.util.parseAxisParam(named['axis'] as number, x.shape)[0] ?? 0;
      const sizes = tf.backend_util.prepareSplitSize(x, named['numOrSizeSplits'] as number | number[], axis);
      const pieces = (dy as Array<Tensor | null>).map((g, i) => {
        if (g !== null) return g;
        const shape = [...x.shape];
        shape[axis] = sizes[i] ?? 0;
        return tf.zeros(shape);
      });
      return {x: () => tf.concat(pieces, axis)};
    },
  },
  {
    kernelName: 'Relu',
    inputsToSave: ['x'],
    gradFunc: (dy, saved) => ({x: () => reluGrad(dy as Tensor, saved0(saved))}),
  },
  {
    kernelName: RELU_GRAD,
    inputsToSave: ['x'],
    gradFunc: (g, saved) => {
      const x = saved0(saved);
      return {dy: () => reluGrad(g as Tensor, x), x: () => tf.zerosLike(x)};
    },
  },
];

let installed = false;

/** Registers the gradients above. Idempotent; called by activateBackend after the second-order fixes. */
export function installFastGradients(): void {
  if (installed) return;
  installed = true;
  for (const config of FAST) tf.registerGradient(config);
}

/** The kernels whose gradients this module replaces or adds (for docs and tests). */
export const FAST_GRADIENT_KERNELS: readonly string[] = FAST.map((c) => c.kernelName);
