/**
 * The implementation of `trainTeacher` (see train-teacher.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import * as tf from '@tensorflow/tfjs-core';
import {startBackend} from './start-backend.js';
import {toTensors} from '../ml/data/dataset.js';
import {evaluate} from '../ml/evaluate.js';
import {train} from '../ml/train.js';
import type {NodeContext} from './api.js';
import {inputPath, readDatasetArtifact, writeModelArtifact} from './artifacts.js';
import {buildArch} from './build-arch.js';
import {convNetFor, describeArch, type ArchSpec} from './model-spec.js';
import type {TrainTeacherParams} from './train-teacher.js';

function archOf(p: TrainTeacherParams, data: {channels: number; height: number; classes: number}): ArchSpec {
  switch (p.arch) {
    case 'resnet18':
    case 'resnet50':
      return {
        kind: 'resnet',
        depth: p.arch === 'resnet18' ? 18 : 50,
        widthMultiplier: p.widthMultiplier,
        norm: p.norm,
        channels: data.channels,
        classes: data.classes,
      };
    case 'convnet':
      // A ConvNet teacher has no group norm; 'group' falls back to the ConvNet default.
      return convNetFor({width: p.width, depth: p.depth, norm: p.norm === 'batch' ? 'batch' : 'instance'}, data);
    default: {
      const never: never = p.arch;
      throw new Error(`Internal error: unknown teacher architecture ${String(never)}`);
    }
  }
}

/** Runs one `trainTeacher` instance. */
export async function run(ctx: NodeContext<TrainTeacherParams>): Promise<void> {
  await startBackend(ctx);
  const p = ctx.params;
  const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
  const arch = archOf(p, data.train);
  const model = buildArch(arch);
  ctx.log(`teacher: ${describeArch(arch)}, ${model.numParams} parameters`);
  const {x, y} = toTensors(data.train);
  const init = model.init(ctx.seed);
  let params: Float32Array;
  let buffers: Float32Array;
  try {
    const result = await train({
      model,
      params: init,
      x,
      y,
      epochs: p.epochs,
      batchSize: p.batchSize,
      lr: p.lr,
      momentum: p.momentum,
      weightDecay: p.weightDecay,
      lrDecayEpochs: [Math.floor(p.epochs / 2) + 1].filter((e) => e < p.epochs),
      ...(p.dsa ? {dsa: {}} : {}),
      seed: ctx.seed,
      signal: ctx.signal,
      onEpoch: (info) => ctx.log(`epoch ${info.epoch}: loss ${info.loss.toFixed(4)}`),
      onProgress: (fraction, info) => ctx.progress(0.95 * fraction, {epoch: info.epoch + 1, batch: info.batch + 1}),
    });
    const test = toTensors(data.test);
    try {
      const ev = await evaluate(model, result.params, test.x, test.y, 256, {buffers: result.buffers, signal: ctx.signal});
      ctx.metric('test_accuracy', 100 * ev.accuracy);
      const last = result.history[result.history.length - 1];
      if (last !== undefined) ctx.metric('train_loss', last.loss);
      params = Float32Array.from(await result.params.data());
      buffers = Float32Array.from(await result.buffers.data());
    } finally {
      tf.dispose([test.x, test.y, result.params, result.buffers]);
    }
  } finally {
    tf.dispose([x, y, init]);
  }
  await writeModelArtifact(ctx.file('model', '.safetensors'), {
    arch,
    params: [params],
    buffers: [buffers],
    provenance: {source: 'teacher', arch: describeArch(arch), epochs: p.epochs},
  });
  ctx.progress(1);
}
