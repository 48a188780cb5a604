/**
 * The teacher of a node with a KD term (distillJoint, trainStudentKD): its `teacher` input read into a frozen model.
 */
import * as tf from '@tensorflow/tfjs-core';
import {teacherFromModel} from '../ml/train.js';
import type {Teacher} from '../ml/train.js';
import type {NodeContext} from './api.js';
import {inputPath, readModelArtifact} from './artifacts.js';
import {buildArch} from './build-arch.js';
import type {ArchSpec} from './model-spec.js';

/**
 * Reads the `teacher` input of a node whose KD weight `alpha` is above 0, and pushes its tensors to `owned` for the
 * caller to dispose. Throws, naming `nodeType`, when no teacher is connected.
 */
export async function readTeacher(
  ctx: Pick<NodeContext<unknown>, 'inputs'>,
  nodeType: string,
  alpha: number,
  owned: tf.Tensor[],
): Promise<{teacher: Teacher; arch: ArchSpec}> {
  const input = ctx.inputs['teacher'];
  if (input === undefined) throw new Error(`${nodeType}: alpha = ${alpha} > 0 needs the "teacher" input`);
  const t = await readModelArtifact(inputPath(input, 'teacher'));
  const params = tf.tensor1d(t.params[0] ?? new Float32Array(0));
  const buffers = tf.tensor1d(t.buffers[0] ?? new Float32Array(0));
  owned.push(params, buffers);
  return {teacher: teacherFromModel(buildArch(t.arch), params, buffers), arch: t.arch};
}
