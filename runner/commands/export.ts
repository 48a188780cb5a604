/**
 * `distillery export FILE INSTANCE --out PATH [--format F]`: writes what an instance of the current plan computed
 * (read from its cache entry) in a format other tools read. A synthetic set: numpy's npz (x float32 [N,C,H,W],
 * y int64, lr, mean, std), a PNG grid (one row per class), or the safetensors artifact itself. A trained network (a
 * student's or the teacher's `Model`, an expert's trajectory): a safetensors state dict in PyTorch names and layouts
 * (runner/export-model.ts).
 */
import {copyFile, mkdir} from 'node:fs/promises';
import {dirname, join, resolve} from 'node:path';
import type {CacheStore} from '../../cache/store.js';
import type {InputNormalisation, ModelPick} from '../export-model.js';
import type {Plan} from '../plan.js';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {unreachable} from '../unreachable.js';
import {outputFileProblem} from '../output-file.js';

const HELP = `Usage: distillery export FILE INSTANCE --out PATH [--format F] [options]

Writes what INSTANCE (an instance id of the pipeline) computed, from the cache.

A synthetic set (selectRandom, distillJoint: e.g. 'distill{T=1,alpha=0.3}' or random):
  npz          (default) numpy archive: x float32 [N, C, H, W] (normalised), y int64 [N], lr float32 (the
               learned learning rate), mean and std float32 [C] (x * std + mean gives pixels in [0, 1])
  png          a picture of the set, one row per class
  safetensors  the artifact as stored (x float32 [N, H, W, C], y int32, lr; mean/std in the metadata)

A trained network (trainStudentKD and trainTeacher: a Model; trainExpert: a trajectory):
  safetensors  (the only format) a PyTorch state dict: the parameter names and layouts of the reference
               PyTorch ConvNet or ResNet (conv weights OIHW, linear [out, in]; docs/pytorch.md), for
               model.load_state_dict(); its metadata has arch, provenance and, when the data it was trained
               on is in the cache, mean, std and classNames

Options:
  --out PATH          the file to write (required)
  --format F          npz, png or safetensors (default: npz for a set, safetensors for a network)
  --seed-index I      which seed of a Model (students train several; default 0)
  --epoch E           which epoch of an expert's trajectory (default: the last; 0 is the initialisation)
  --port NAME         the output port, when the instance has several exportable outputs
  --set KEY=VALUE     override a value of the pipeline (repeatable), as for run
${STORE_HELP}

With a remote, an instance not in the local cache is fetched from the remote (and kept in the local cache).

Exit codes: 0 ok, 2 bad input (unknown instance, nothing exportable, not computed yet, a seed or epoch out of range).
`;

type Format = 'npz' | 'png' | 'safetensors';
const FORMATS: readonly Format[] = ['npz', 'png', 'safetensors'];

/** The output kinds export writes. */
type ExportKind = 'SyntheticSet' | 'Model' | 'Trajectories';
const KINDS: readonly string[] = ['SyntheticSet', 'Model', 'Trajectories'] satisfies readonly ExportKind[];

function isFormat(text: string): text is Format {
  return (FORMATS as readonly string[]).includes(text);
}

function exportable(kind: string | undefined): kind is ExportKind {
  return kind !== undefined && KINDS.includes(kind);
}

/** A non-negative integer option, or a message. */
function index(name: string, text: string | undefined): number | undefined | {error: string} {
  if (text === undefined) return undefined;
  const n = Number(text);
  return Number.isInteger(n) && n >= 0 && text.trim() !== '' ? n : {error: `--${name} must be an integer >= 0, got '${text}'`};
}

/**
 * The mean, std and class names of the data a network was trained on: from the nearest upstream instance (breadth
 * first) whose input was a `SyntheticSet` or a `Dataset` and whose entry is in the cache.
 */
async function normalisationOf(plan: Plan, id: string, store: CacheStore): Promise<InputNormalisation | undefined> {
  const {readNormalisation} = await import('../export-model.js');
  const seen = new Set<string>([id]);
  let frontier = [id];
  while (frontier.length > 0) {
    const next: string[] = [];
    for (const current of frontier) {
      for (const input of plan.nodes.get(current)?.inputs ?? []) {
        for (const [i, from] of input.from.entries()) {
          const up = plan.nodes.get(from);
          const port = input.fromPort[i] ?? '';
          const kind = up?.outputs[port];
          if (up !== undefined && (kind === 'SyntheticSet' || kind === 'Dataset')) {
            const found = await store.get(up.key, {touch: false});
            const output = found.status === 'hit' ? found.entry.manifest.outputs[port] : undefined;
            if (found.status === 'hit' && output?.format === 'file') {
              const norm = await readNormalisation(join(found.entry.dir, output.file), from);
              if (norm !== undefined) return norm;
            }
          }
          if (!seen.has(from)) {
            seen.add(from);
            next.push(from);
          }
        }
      }
    }
    frontier = next;
  }
  return undefined;
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      format: {type: 'string'},
      out: {type: 'string'},
      port: {type: 'string'},
      'seed-index': {type: 'string'},
      epoch: {type: 'string'},
      set: {type: 'string', multiple: true},
      ...STORE_OPTIONS,
    },
  });
  const fail = (message: string, help = false): number => {
    io.stderr.write(`distillery export: ${message}\n${help ? `\n${HELP}` : ''}`);
    return EXIT.badInput;
  };
  if (!parsed.ok) return fail(parsed.message, true);
  const {values, positionals} = parsed.value;
  if (positionals.length !== 2) return fail('expected a pipeline FILE and an INSTANCE id', true);
  if (values.format !== undefined && !isFormat(values.format)) return fail(`--format must be one of ${FORMATS.join(', ')}, got '${values.format}'`);
  if (values.out === undefined) return fail('--out PATH is required', true);
  const seedIndex = index('seed-index', values['seed-index']);
  if (typeof seedIndex === 'object') return fail(seedIndex.error);
  const epoch = index('epoch', values.epoch);
  if (typeof epoch === 'object') return fail(epoch.error);
  const [fileArg = '', instance = ''] = positionals;
  const file = resolve(io.cwd, fileArg);
  const out = resolve(io.cwd, values.out);
  const outProblem = await outputFileProblem(values.out, io.cwd);
  if (outProblem !== undefined) return fail(`--out: ${outProblem}`);

  const {analyzeOrReport} = await import('./analyze-or-report.js');
  const plan = await analyzeOrReport(file, values.set ?? [], io);
  if (plan === undefined) return EXIT.badInput;
  const node = plan.nodes.get(instance);
  if (node === undefined) {
    const ids = plan.order.filter((id) => Object.values(plan.nodes.get(id)?.outputs ?? {}).some(exportable));
    return fail(`no instance '${instance}' in ${plan.name}; instances with a synthetic set or a trained network: ${ids.length > 0 ? ids.join(', ') : 'none'}`);
  }
  const ports = Object.entries(node.outputs).filter(([, kind]) => exportable(kind)).map(([port]) => port);
  if (ports.length === 0) return fail(`'${instance}' is a ${node.type} node; it has no synthetic set (SyntheticSet) or trained network (Model, Trajectories) output`);
  const port = values.port ?? (ports.length === 1 ? ports[0] : undefined);
  if (port === undefined || !ports.includes(port)) return fail(`'${instance}' has exportable outputs ${ports.join(', ')}; choose one with --port`);
  const kind = node.outputs[port];
  if (!exportable(kind)) return fail(`'${instance}' has exportable outputs ${ports.join(', ')}; choose one with --port`);
  const format: Format = values.format ?? (kind === 'SyntheticSet' ? 'npz' : 'safetensors');
  if (kind !== 'SyntheticSet' && format !== 'safetensors') return fail(`'${instance}' is a trained network (${kind}); it exports as safetensors only`);
  if (seedIndex !== undefined && kind !== 'Model') return fail(`--seed-index picks a seed of a Model; '${instance}'.${port} is a ${kind}`);
  if (epoch !== undefined && kind !== 'Trajectories') return fail(`--epoch picks an epoch of an expert's trajectory; '${instance}'.${port} is a ${kind}`);

  const opened = await openStore(values, io, {readThrough: true, mode: 'read'});
  if (opened === undefined) return EXIT.badInput;
  try {
    const found = await opened.store.get(node.key, {touch: false});
    if (opened.tiered?.remoteDown !== undefined) io.stderr.write(`warning: remote ${opened.remote?.name ?? ''} is unavailable: ${opened.tiered.remoteDown}\n`);
    if (found.status !== 'hit') {
      return fail(`'${instance}' is not computed yet (key ${node.key}${found.status === 'corrupt' ? `: ${found.reason}` : ''}); run \`distillery run ${fileArg}\` first`);
    }
    const output = found.entry.manifest.outputs[port];
    if (output === undefined || output.format !== 'file') return fail(`the cache entry of '${instance}' has no file for '${port}'`);
    const artifact = join(found.entry.dir, output.file);
    await mkdir(dirname(out), {recursive: true});

    if (kind !== 'SyntheticSet') {
      const pick: ModelPick = kind === 'Model' ? {kind, seedIndex: seedIndex ?? 0} : {kind, epoch};
      const normalisation = await normalisationOf(plan, instance, opened.store);
      const {exportModel} = await import('../export-model.js');
      const written = await exportModel(artifact, pick, out, {instance, normalisation});
      if (!written.ok) return fail(written.error);
      const {network, tensors, values: count, which} = written.value;
      const norm = normalisation === undefined ? 'no data set of it in the cache: no mean/std in the metadata' : `mean/std from ${normalisation.from}`;
      io.stdout.write(`wrote ${out} (PyTorch state dict of ${network}, ${which}: ${tensors} tensors, ${count} values; ${norm})\n`);
      return EXIT.ok;
    }

    const {readSyntheticSetArtifact} = await import('../../nodes/artifacts.js');
    const {set, lr} = await readSyntheticSetArtifact(artifact);
    switch (format) {
      case 'npz': {
        const {writeSyntheticSetNpz} = await import('../../ml/io/npz.js');
        await writeSyntheticSetNpz(out, {...set, lr});
        break;
      }
      case 'png': {
        const {writeImageGrid} = await import('../../ml/io/png-grid.js');
        await writeImageGrid(out, set, {scale: 2});
        break;
      }
      case 'safetensors':
        await copyFile(artifact, out);
        break;
      default:
        return unreachable(format);
    }
    io.stdout.write(`wrote ${out} (${format}: ${set.n} images of ${set.height}x${set.width}x${set.channels}, ${set.classes} classes, lr ${lr.toPrecision(4)})\n`);
    return EXIT.ok;
  } finally {
    opened.close();
  }
}

const command: Command = {
  summary: 'write a computed synthetic set (npz, png, safetensors) or a trained network (PyTorch state dict)',
  help: HELP,
  run,
};
export default command;
