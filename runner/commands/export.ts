/**
 * `distillery export FILE INSTANCE --format npz|png|safetensors --out PATH`: writes the synthetic set that an instance
 * of the current plan computed (read from its cache entry) in a format other tools read: numpy's npz (x float32
 * [N,C,H,W], y int64, lr, mean, std), a PNG grid (one row per class), or the safetensors artifact itself.
 */
import {copyFile, mkdir} from 'node:fs/promises';
import {dirname, join, resolve} from 'node:path';
import type {Command, CommandIO} from './command.js';
import {EXIT} from './command.js';
import {parseOptions} from './parse-options.js';
import {openStore, STORE_HELP, STORE_OPTIONS} from './open-store.js';
import {unreachable} from '../unreachable.js';
import {outputFileProblem} from '../output-file.js';

const HELP = `Usage: distillery export FILE INSTANCE --format npz|png|safetensors --out PATH [options]

Writes the synthetic set computed by INSTANCE (an instance id of the pipeline, e.g. 'distill{T=1,alpha=0.3}' or
random) from the cache:
  npz          numpy archive: x float32 [N, C, H, W] (normalised), y int64 [N], lr float32 (the learned
               learning rate), mean and std float32 [C] (x * std + mean gives pixels in [0, 1])
  png          a picture of the set, one row per class
  safetensors  the artifact as stored (x float32 [N, H, W, C], y int32, lr; mean/std in the metadata)

Options:
  --format F          npz (default), png or safetensors
  --out PATH          the file to write (required)
  --port NAME         the output port, when the instance has several SyntheticSet outputs
  --set KEY=VALUE     override a value of the pipeline (repeatable), as for run
${STORE_HELP}

With a remote, an instance not in the local cache is fetched from the remote (and kept in the local cache).

Exit codes: 0 ok, 2 bad input (unknown instance, not a SyntheticSet, not computed yet).
`;

type Format = 'npz' | 'png' | 'safetensors';
const FORMATS: readonly Format[] = ['npz', 'png', 'safetensors'];

function isFormat(text: string): text is Format {
  return (FORMATS as readonly string[]).includes(text);
}

async function run(args: readonly string[], io: CommandIO): Promise<number> {
  const parsed = parseOptions({
    args: [...args],
    allowPositionals: true,
    options: {
      format: {type: 'string'},
      out: {type: 'string'},
      port: {type: 'string'},
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
  const format = values.format ?? 'npz';
  if (positionals.length !== 2) return fail('expected a pipeline FILE and an INSTANCE id', true);
  if (!isFormat(format)) return fail(`--format must be one of ${FORMATS.join(', ')}, got '${format}'`);
  if (values.out === undefined) return fail('--out PATH is required', true);
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
    const sets = plan.order.filter((id) => Object.values(plan.nodes.get(id)?.outputs ?? {}).includes('SyntheticSet'));
    return fail(`no instance '${instance}' in ${plan.name}; instances with a SyntheticSet: ${sets.length > 0 ? sets.join(', ') : 'none'}`);
  }
  const ports = Object.entries(node.outputs).filter(([, kind]) => kind === 'SyntheticSet').map(([port]) => port);
  const port = values.port ?? (ports.length === 1 ? ports[0] : undefined);
  if (ports.length === 0) return fail(`'${instance}' is a ${node.type} node; it has no SyntheticSet output`);
  if (port === undefined || !ports.includes(port)) {
    return fail(`'${instance}' has SyntheticSet outputs ${ports.join(', ')}; choose one with --port`);
  }

  const opened = await openStore(values, io, {readThrough: true, mode: 'read'});
  if (opened === undefined) return EXIT.badInput;
  const found = await opened.store.get(node.key, {touch: false});
  opened.close();
  if (opened.tiered?.remoteDown !== undefined) io.stderr.write(`warning: remote ${opened.remote?.name ?? ''} is unavailable: ${opened.tiered.remoteDown}\n`);
  if (found.status !== 'hit') {
    return fail(`'${instance}' is not computed yet (key ${node.key}${found.status === 'corrupt' ? `: ${found.reason}` : ''}); run \`distillery run ${fileArg}\` first`);
  }
  const output = found.entry.manifest.outputs[port];
  if (output === undefined || output.format !== 'file') return fail(`the cache entry of '${instance}' has no file for '${port}'`);
  const artifact = join(found.entry.dir, output.file);

  await mkdir(dirname(out), {recursive: true});
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
}

const command: Command = {summary: 'write a computed synthetic set as npz, png or safetensors', help: HELP, run};
export default command;
