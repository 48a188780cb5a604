/**
 * The built-in node types. The runner's registry reads this list; a pipeline names a type by its `type:` string.
 * Add a built-in by importing its module here, appending it to the default export and naming its file in
 * `builtinModules` (so editing that file changes the type's implementation hash and invalidates its cache entries).
 *
 * Importing this file must load no TensorFlow.js (the registry imports it to validate and plan a pipeline; a cached
 * no-op run loads no tfjs at all): each `<name>.ts` holds only the definition (params schema, ports, resources) and
 * its `run()` imports the implementation, `<name>-run.ts`, when an instance runs. The dynamic import is followed by
 * the implementation hash, so the run file and what it imports still count in the type's cache keys.
 */
import type {NodeDefinition} from './api.js';
import {distillJoint} from './distill-joint.js';
import {evaluate} from './evaluate.js';
import {loadCIFAR} from './load-cifar.js';
import {loadFashionMNIST} from './load-fashion-mnist.js';
import {report} from './report.js';
import {selectRandom} from './select-random.js';
import {trainExpert} from './train-expert.js';
import {trainStudentKD} from './train-student-kd.js';
import {trainTeacher} from './train-teacher.js';

/** Every built-in node type. */
export default [
  loadCIFAR,
  loadFashionMNIST,
  trainExpert,
  trainTeacher,
  selectRandom,
  distillJoint,
  trainStudentKD,
  evaluate,
  report,
] as unknown as NodeDefinition[];

/**
 * Built-in type name -> URL of the module that implements it (`new URL('./load-cifar.js', import.meta.url)`).
 * Types without an entry are hashed by this index file's source.
 */
export const builtinModules: Readonly<Record<string, URL>> = {
  loadCIFAR: new URL('./load-cifar.js', import.meta.url),
  loadFashionMNIST: new URL('./load-fashion-mnist.js', import.meta.url),
  trainExpert: new URL('./train-expert.js', import.meta.url),
  trainTeacher: new URL('./train-teacher.js', import.meta.url),
  selectRandom: new URL('./select-random.js', import.meta.url),
  distillJoint: new URL('./distill-joint.js', import.meta.url),
  trainStudentKD: new URL('./train-student-kd.js', import.meta.url),
  evaluate: new URL('./evaluate.js', import.meta.url),
  report: new URL('./report.js', import.meta.url),
};
