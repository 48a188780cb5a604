/**
 * Training throughput on the active backend (initBackend's choice): ConvNet-128 steps on CIFAR- and Fashion-MNIST-shaped
 * batches with and without DSA, the cost of a DSA draw + application alone, and a ResNet-18 (w = 1/4) teacher step.
 */
import * as tf from '@tensorflow/tfjs-core';
import {initBackend} from '../../ml/backend.js';
import {convNet} from '../../ml/convnet.js';
import {resNet} from '../../ml/resnet.js';
import {diffAugment} from '../../ml/dsa.js';
import {train} from '../../ml/train.js';
import type {FunctionalModel} from '../../ml/model.js';

async function imagesPerSecond(
  model: FunctionalModel,
  shape: [number, number, number],
  batch: number,
  batches: number,
  dsa: boolean,
): Promise<number> {
  const n = batch * batches;
  const x = tf.randomNormal([n, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
  const y = tf.tensor1d(Array.from({length: n}, (_, i) => i % 10), 'int32');
  const params = model.init(1);
  // One warm-up batch so kernel set-up is not timed.
  const warm = await train({model, params, x: tf.slice(x, 0, batch), y: tf.slice(y, 0, batch), epochs: 1, batchSize: batch, lr: 0.01, seed: 0});
  tf.dispose([warm.params, warm.buffers]);
  const start = performance.now();
  const r = await train({model, params, x, y, epochs: 1, batchSize: batch, lr: 0.01, momentum: 0.9, seed: 1, ...(dsa ? {dsa: {}} : {})});
  const seconds = (performance.now() - start) / 1000;
  tf.dispose([x, y, params, r.params, r.buffers]);
  return n / seconds;
}

/** Reports one line per measurement. */
export async function bench(report: (line: string) => void): Promise<void> {
  const info = await initBackend();
  const cifar = convNet({channels: 3, imageSize: 32, classes: 10});
  const fashion = convNet({channels: 1, imageSize: 28, classes: 10});
  for (const dsa of [false, true]) {
    const c = await imagesPerSecond(cifar, [32, 32, 3], 64, 2, dsa);
    report(`train: ConvNet-128 32x32x3, batch 64, dsa ${dsa} on ${info.kind}: ${c.toFixed(1)} img/s`);
    const f = await imagesPerSecond(fashion, [28, 28, 1], 64, 2, dsa);
    report(`train: ConvNet-128 28x28x1, batch 64, dsa ${dsa} on ${info.kind}: ${f.toFixed(1)} img/s`);
  }
  const x = tf.randomNormal([256, 32, 32, 3]) as tf.Tensor4D;
  const start = performance.now();
  for (let s = 0; s < 12; s++) diffAugment(x, s).dispose();
  report(`dsa: one draw + apply on 256x32x32x3 (mean of 12 seeds): ${((performance.now() - start) / 12).toFixed(1)} ms`);
  x.dispose();
  const teacher = resNet({depth: 18, channels: 3, classes: 10, widthMultiplier: 0.25});
  const t = await imagesPerSecond(teacher, [32, 32, 3], 32, 2, false);
  report(`train: ResNet-18 (w 1/4, batch norm) 32x32x3, batch 32 on ${info.kind}: ${t.toFixed(1)} img/s`);
}
