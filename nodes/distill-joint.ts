/**
 * `distillJoint`: trajectory matching (MTT) with a knowledge-distillation term from a teacher in the inner loss
 * (ml/mtt.ts): the method of the paper. alpha = 0 is plain MTT, and the teacher input is then not read at all.
 * The student network is the experts' ConvNet (the architecture stored in their trajectories).
 */
import {defineNode} from './api.js';

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
    const {run} = await import('./distill-joint-run.js');
    return run(ctx);
  },
});
