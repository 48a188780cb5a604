/**
 * `distillJoint`: trajectory matching (MTT) with a knowledge-distillation term from a teacher in the inner loss
 * (ml/mtt.ts): the method of the paper. alpha = 0 is plain MTT, and the teacher input is then not read at all.
 * The student network is the experts' ConvNet (the architecture stored in their trajectories).
 */
import * as tf from '@tensorflow/tfjs';
import {initBackend} from '../ml/backend.js';
import {distill} from '../ml/mtt.js';
import type {MttTeacher} from '../ml/mtt-config.js';
import {teacherFromModel} from '../ml/train.js';
import {MttError} from '../ml/mtt-failure.js';
import {defineNode} from './api.js';
import {
  inputPath,
  inputPaths,
  readDatasetArtifact,
  readModelArtifact,
  readTrajectoryArtifact,
  writeSyntheticSetArtifact,
} from './artifacts.js';
import {buildArch, describeArch} from './model-spec.js';

/** Params of {@link distillJoint} (names follow the reference CLI). */
export interface DistillJointParams {
  readonly ipc: number;
  readonly alpha: number;
  readonly T: number;
  readonly syn_steps: number;
  readonly expert_epochs: number;
  readonly max_start_epoch: number;
  readonly lr_img: number;
  readonly lr_lr: number;
  readonly lr_teacher: number;
  readonly iterations: number;
  readonly batch_syn?: number;
  readonly dsa: boolean;
  readonly unroll: 'stepwise' | 'full';
  readonly width?: number;
  readonly depth?: number;
}

/** The node type. */
export const distillJoint = defineNode<DistillJointParams>({
  type: 'distillJoint',
  description: 'MTT dataset distillation with alpha * T^2 * KL(teacher || student) in the inner loss (alpha = 0: plain MTT).',
  params: {
    type: 'object',
    additionalProperties: false,
    properties: {
      ipc: {type: 'integer', minimum: 1, default: 10, description: 'Synthetic images per class.'},
      alpha: {type: 'number', minimum: 0, maximum: 1, default: 0, description: 'Weight of the KD term; 0 = plain MTT.'},
      T: {type: 'number', exclusiveMinimum: 0, default: 4, description: 'KD softmax temperature.'},
      syn_steps: {type: 'integer', minimum: 1, default: 30, description: 'N: unrolled student steps per iteration.'},
      expert_epochs: {type: 'integer', minimum: 1, default: 2, description: 'M: target = expert M epochs after the start.'},
      max_start_epoch: {type: 'integer', minimum: 1, default: 20, description: 'Start epoch drawn from 0..max_start_epoch-1.'},
      lr_img: {type: 'number', exclusiveMinimum: 0, default: 1000, description: 'Outer learning rate of the pixels.'},
      lr_lr: {type: 'number', exclusiveMinimum: 0, default: 1e-5, description: 'Outer learning rate of the learned student lr.'},
      lr_teacher: {type: 'number', exclusiveMinimum: 0, default: 0.01, description: 'Initial student lr (syn_lr).'},
      iterations: {type: 'integer', minimum: 1, default: 5000},
      batch_syn: {type: 'integer', minimum: 1, description: 'Synthetic images per inner step (default: all).'},
      dsa: {type: 'boolean', default: true, description: 'DSA on every inner batch (teacher and student see the same one).'},
      unroll: {
        enum: ['stepwise', 'full'],
        default: 'stepwise',
        description: "'stepwise': memory of one unrolled step; 'full': one tape over all steps (faster, memory x syn_steps).",
      },
      width: {type: 'integer', minimum: 1, description: 'Student width; must equal the experts\' (checked; default: theirs).'},
      depth: {type: 'integer', minimum: 1, description: 'Student depth; must equal the experts\' (checked; default: theirs).'},
    },
  },
  inputs: {
    data: {kind: 'Dataset'},
    experts: {kind: 'Trajectories', many: true},
    teacher: {kind: 'Model', optional: true, description: 'Required when alpha > 0; unused when alpha = 0.'},
  },
  outputs: {
    set: {kind: 'SyntheticSet', description: 'safetensors: x, y (class-major), lr (the learned student lr)'},
    curve: {kind: 'Metrics', description: 'JSON {loss: number[], syn_lr: number[]} per iteration'},
  },
  resources: {gpu: 1},
  async run(ctx) {
    await initBackend();
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
      const teacherInput = ctx.inputs['teacher'];
      if (teacherInput === undefined) throw new Error(`distillJoint: alpha = ${p.alpha} > 0 needs the "teacher" input`);
      const t = await readModelArtifact(inputPath(teacherInput, 'teacher'));
      const tModel = buildArch(t.arch);
      const tParams = tf.tensor1d(t.params[0] ?? new Float32Array(0));
      const tBuffers = tf.tensor1d(t.buffers[0] ?? new Float32Array(0));
      owned.push(tParams, tBuffers);
      teacher = teacherFromModel(tModel, tParams, tBuffers);
      ctx.log(`teacher: ${describeArch(t.arch)}`);
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
  },
});
