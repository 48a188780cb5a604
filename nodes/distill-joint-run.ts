/**
 * The implementation of `distillJoint` (see distill-joint.ts),
 * loaded only when an instance runs: analysing a pipeline (validate, plan, a cached no-op run) then loads no
 * TensorFlow.js.
 */
import * as tf from '@tensorflow/tfjs-core';
import {startBackend} from './start-backend.js';
import {distill} from '../ml/mtt.js';
import type {MttTeacher} from '../ml/mtt-config.js';
import {MttError} from '../ml/mtt-failure.js';
import type {NodeContext} from './api.js';
import {
  inputPath,
  inputPaths,
  readDatasetArtifact,
  readTrajectoryArtifact,
  writeSyntheticSetArtifact,
} from './artifacts.js';
import {buildArch} from './build-arch.js';
import {readTeacher} from './read-teacher.js';
import {describeArch} from './model-spec.js';
import type {DistillJointParams} from './distill-joint.js';

/** Runs one `distillJoint` instance. */
export async function run(ctx: NodeContext<DistillJointParams>): Promise<void> {
  await startBackend(ctx);
  const p = ctx.params;
  const data = await readDatasetArtifact(inputPath(ctx.inputs['data'], 'data'));
  const needed = p.max_start_epoch + p.expert_epochs;
  const experts = await Promise.all(inputPaths(ctx.inputs['experts'], 'experts').map((f) => readTrajectoryArtifact(f, needed)));
  const first = experts[0];
  if (first === undefined) throw new Error('distillJoint: no expert trajectories connected to "experts"');
  const arch = first.arch;
  if (arch.kind !== 'convnet') throw new Error(`distillJoint: experts must be ConvNets, got ${describeArch(arch)}`);
  for (const e of experts) {
    if (JSON.stringify(e.arch) !== JSON.stringify(arch)) throw new Error('distillJoint: the experts have different architectures');
  }
  if ((p.width !== undefined && p.width !== arch.width) || (p.depth !== undefined && p.depth !== arch.depth)) {
    throw new Error(`distillJoint: student width/depth ${p.width ?? arch.width}/${p.depth ?? arch.depth} differ from the experts' ${arch.width}/${arch.depth}`);
  }
  const model = buildArch(arch);
  const owned: tf.Tensor[] = [];
  let teacher: MttTeacher | undefined;
  if (p.alpha > 0) {
    const read = await readTeacher(ctx, 'distillJoint', p.alpha, owned);
    teacher = read.teacher;
    ctx.log(`teacher: ${describeArch(read.arch)}`);
  }
  let outcome;
  try {
    outcome = await distill({
      model,
      experts: experts.map((e) => e.snapshots),
      real: data.train,
      ipc: p.ipc,
      iterations: p.iterations,
      synSteps: p.syn_steps,
      expertEpochs: p.expert_epochs,
      maxStartEpoch: p.max_start_epoch,
      lrImg: p.lr_img,
      lrLr: p.lr_lr,
      lrTeacher: p.lr_teacher,
      ...(p.batch_syn === undefined ? {} : {batchSyn: p.batch_syn}),
      alpha: p.alpha,
      temperature: p.T,
      ...(teacher === undefined ? {} : {teacher}),
      dsa: p.dsa ? {} : false,
      unroll: p.unroll,
      seed: ctx.seed,
      signal: ctx.signal,
      onProgress: (it, info) =>
        ctx.progress((it + 1) / p.iterations, {iter: it + 1, loss: Number(info.loss.toFixed(4)), lr: Number(info.synLr.toPrecision(3))}),
    });
  } finally {
    tf.dispose(owned);
  }
  if (!outcome.ok) throw new MttError(outcome.error);
  const r = outcome.value;
  const tail = r.losses.slice(-Math.max(1, Math.floor(r.losses.length / 10)));
  ctx.metric('final_loss', tail.reduce((a, b) => a + b, 0) / tail.length);
  ctx.metric('first_loss', r.losses[0] ?? Number.NaN);
  ctx.metric('syn_lr', r.synLr);
  await writeSyntheticSetArtifact(ctx.file('set', '.safetensors'), {
    set: r.synthetic,
    lr: r.synLr,
    provenance: {source: 'distilled', ipc: p.ipc, alpha: p.alpha, T: p.T, iterations: p.iterations, student: describeArch(arch)},
  });
  ctx.write('curve', {loss: [...r.losses], syn_lr: [...r.synLrs]});
  ctx.progress(1);
}
