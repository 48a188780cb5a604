/**
 * `distillery export` of a trained network: a `Model` (a student's or the teacher's weights, one of its seeds) or a
 * `Trajectories` artifact (an expert: the parameters after one of its epochs), written as a safetensors state dict in
 * PyTorch names and layouts (ml/torch-layout.ts), which `load_state_dict` puts into the reference PyTorch ConvNet or
 * ResNet (docs/torch_models.py). The metadata says which network it is (`arch`), what it was trained on
 * (`provenance`), and, when the data it was trained on is in the cache, how to normalise inputs (`mean`, `std`) and
 * the class names.
 */
import type {ArchSpec} from '../nodes/model-spec.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/** Which weights of an artifact to write. */
export type ModelPick =
  /** Seed `seedIndex` of a `Model` (its artifact holds one set of weights per student seed). */
  | {readonly kind: 'Model'; readonly seedIndex: number}
  /** The parameters after `epoch` epochs of an expert trajectory (undefined: the last); 0 is the initialisation. */
  | {readonly kind: 'Trajectories'; readonly epoch: number | undefined};

/** What the data a network was trained on says about its inputs, for the metadata. */
export interface InputNormalisation {
  /** The instance whose artifact said it. */
  readonly from: string;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly classNames: readonly string[];
}

/** What was written. */
export interface ModelExportSummary {
  /** e.g. `ConvNet-16 (depth 3, instance norm)`. */
  readonly network: string;
  readonly tensors: number;
  readonly values: number;
  /** `seed 0 of 2` or `epoch 4 of 4`. */
  readonly which: string;
}

/**
 * Reads the network artifact at `artifact`, picks its weights and writes them to `out` as a state dict. A failure the
 * user can fix (a seed or epoch out of range, a batch-norm expert) is a message.
 */
export async function exportModel(
  artifact: string,
  pick: ModelPick,
  out: string,
  context: {readonly instance: string; readonly normalisation: InputNormalisation | undefined},
): Promise<Result<ModelExportSummary, string>> {
  const [{readModelArtifact, readTrajectoryArtifact, trajectoryLength}, {buildArch}, {describeArch}, {torchStateDict}, {writeSafetensors}] = await Promise.all([
    import('../nodes/artifacts.js'),
    import('../nodes/build-arch.js'),
    import('../nodes/model-spec.js'),
    import('../ml/torch-layout.js'),
    import('../ml/io/safetensors.js'),
  ]);
  let arch: ArchSpec;
  let params: Float32Array;
  let buffers: Float32Array;
  let which: string;
  let provenance = {};
  switch (pick.kind) {
    case 'Model': {
      const m = await readModelArtifact(artifact);
      const seeds = m.params.length;
      if (pick.seedIndex >= seeds) return fail(`'${context.instance}' holds ${seeds} seed${seeds === 1 ? '' : 's'}; --seed-index runs from 0 to ${seeds - 1}`);
      arch = m.arch;
      params = m.params[pick.seedIndex] ?? new Float32Array(0);
      buffers = m.buffers[pick.seedIndex] ?? new Float32Array(0);
      provenance = m.provenance;
      which = `seed ${pick.seedIndex} of ${seeds}`;
      break;
    }
    case 'Trajectories': {
      const epochs = (await trajectoryLength(artifact)) - 1;
      const epoch = pick.epoch ?? epochs;
      if (epoch > epochs) return fail(`'${context.instance}' has ${epochs} epochs; --epoch runs from 0 (the initialisation) to ${epochs}`);
      const t = await readTrajectoryArtifact(artifact, epoch + 1);
      arch = t.arch;
      params = t.snapshots[epoch] ?? new Float32Array(0);
      buffers = new Float32Array(0);
      which = `epoch ${epoch} of ${epochs}`;
      break;
    }
    default: {
      const never: never = pick;
      throw new Error(`Internal error: unknown pick ${JSON.stringify(never)}`);
    }
  }
  const network = buildArch(arch);
  if (pick.kind === 'Trajectories' && network.numBuffers > 0) {
    // A trajectory keeps the trainable parameters only; without running statistics the network cannot be evaluated.
    return fail(`'${context.instance}' is a batch-norm network's trajectory, which keeps no running statistics; only a Model can be exported with them`);
  }
  const naming = arch.kind === 'convnet' ? {kind: 'convnet' as const, norm: arch.norm} : {kind: 'resnet' as const};
  const state = torchStateDict(naming, network, params, buffers);
  const norm = context.normalisation;
  await writeSafetensors(out, state, {
    format: 'pt',
    arch: JSON.stringify(arch),
    provenance: JSON.stringify(provenance),
    instance: context.instance,
    weights: which,
    ...(norm === undefined ? {} : {mean: JSON.stringify(norm.mean), std: JSON.stringify(norm.std), classNames: JSON.stringify(norm.classNames)}),
  });
  const values = [...state.values()].reduce((a, t) => a + t.data.length, 0);
  return ok({network: describeArch(arch), tensors: state.size, values, which});
}

/** The normalisation metadata a data artifact (a `Dataset` or `SyntheticSet`) carries, or undefined. */
export async function readNormalisation(artifact: string, from: string): Promise<InputNormalisation | undefined> {
  const {openSafetensors} = await import('../ml/io/safetensors.js');
  const reader = await openSafetensors(artifact);
  try {
    const m = reader.header.metadata;
    const parse = (key: string): unknown => (m[key] === undefined ? undefined : JSON.parse(m[key]));
    const mean = parse('mean');
    const std = parse('std');
    const classNames = parse('classNames');
    if (!Array.isArray(mean) || !Array.isArray(std) || !Array.isArray(classNames)) return undefined;
    return {from, mean: mean as number[], std: std as number[], classNames: classNames as string[]};
  } finally {
    await reader.close();
  }
}
