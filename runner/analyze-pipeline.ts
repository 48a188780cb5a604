/**
 * The front-end in one call: load the YAML, apply `--set` overrides, validate, expand the grid, analyze the graph and
 * compute keys. Every problem found on the way is collected and returned together as located diagnostics.
 */
import {open} from 'node:fs/promises';
import path from 'node:path';
import {buildPlan} from './build-plan.js';
import {checkConnections} from './check-connections.js';
import type {Diagnostic} from './diagnostic.js';
import {dedupeDiagnostics, errorAt, sortDiagnostics} from './diagnostic.js';
import {expand} from './expand.js';
import {getHasher} from './keys.js';
import {keyEnvironment} from './key-environment.js';
import {LIMIT_VARIABLES, limitsFrom} from './limits.js';
import {PipelineLocator, parsePipelineText, pipelineData} from './pipeline-document.js';
import {readPipelineSpec} from './pipeline-spec.js';
import type {Plan} from './plan.js';
import {buildRegistry} from './registry.js';
import {ReferenceResolver} from './resolve-references.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {applyOverrides} from './set-overrides.js';
import {SourceText} from './source-text.js';
import {validatePipelineSchema} from './validate-pipeline-schema.js';

/** Options of analyzePipeline. */
export interface AnalyzeOptions {
  /** `--set path=value` overrides, applied in order. */
  readonly sets?: readonly string[];
  /** Environment for the backend probe (`DISTILLERY_BACKEND`); defaults to `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Directory that relative paths (and diagnostic file names) are relative to; defaults to `process.cwd()`. */
  readonly cwd?: string;
}

function failed(diagnostics: readonly Diagnostic[]): {ok: false; error: readonly Diagnostic[]} {
  return fail(sortDiagnostics(dedupeDiagnostics(diagnostics)));
}

/** The declared environment that goes into keys, or a diagnostic naming the variable that makes it unusable. */
function environmentOf(env: NodeJS.ProcessEnv): Result<Record<string, string>, Diagnostic> {
  const environment = keyEnvironment(env);
  if (environment.ok) return environment;
  const {variable, message, hint} = environment.error;
  const source = new SourceText('environment', `${variable}=${env[variable] ?? ''}`);
  return fail(errorAt('bad-environment', source.location(0, source.text.length), message, hint));
}

/**
 * Reads at most `maxBytes` of a pipeline file. Reading stops at the cap rather than trusting the size the file
 * system reports: `/dev/zero`, a pipe or a `/proc` file report none (or a wrong one) and would otherwise be read
 * until memory runs out.
 */
async function readBounded(file: string, maxBytes: number): Promise<Result<string, {why: string; tooLarge: boolean}>> {
  let handle;
  try {
    handle = await open(file, 'r');
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail({why: code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String((error as Error).message), tooLarge: false});
  }
  try {
    const info = await handle.stat();
    if (info.isDirectory()) return fail({why: 'it is a directory', tooLarge: false});
    if (info.isFile() && info.size > maxBytes) return fail({why: `it has ${info.size} bytes, more than ${maxBytes}`, tooLarge: true});
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const {bytesRead} = await handle.read(chunk, 0, chunk.length, null);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      length += bytesRead;
      if (length > maxBytes) return fail({why: `it has more than ${maxBytes} bytes`, tooLarge: true});
    }
    return ok(Buffer.concat(chunks, length).toString('utf8'));
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail({why: code === 'EISDIR' ? 'it is a directory' : String((error as Error).message), tooLarge: false});
  } finally {
    await handle.close();
  }
}

/** Loads, validates, expands and analyzes the pipeline in `file`; the Plan, or every problem found. */
export async function analyzePipeline(
  file: string,
  options: AnalyzeOptions = {},
): Promise<Result<Plan, readonly Diagnostic[]>> {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const sets = options.sets ?? [];
  const absolute = path.resolve(cwd, file);
  const relative = path.relative(cwd, absolute);
  // Outside the working directory (`../x.yaml`, but not a file named `..yaml` in it): the absolute path reads better.
  const outside = relative === '..' || relative.startsWith(`..${path.sep}`);
  const display = relative === '' || outside || path.isAbsolute(relative) ? absolute : relative;

  const limits = limitsFrom(env);
  if (!limits.ok) return failed([limits.error]);
  const read = await readBounded(absolute, limits.value.pipelineBytes);
  if (!read.ok) {
    const hint = read.error.tooLarge ? `a pipeline is at most ${limits.value.pipelineBytes} bytes; ${LIMIT_VARIABLES.pipelineBytes} raises the limit` : undefined;
    return failed([errorAt('file-unreadable', {file: display, line: 1, col: 1}, `cannot read the pipeline: ${read.error.why}`, hint)]);
  }
  const text = read.value;
  const source = new SourceText(display, text);
  const parsed = parsePipelineText(source);
  if (!parsed.ok) return failed(parsed.error);
  const doc = parsed.value;
  const locator = new PipelineLocator(source, doc);
  const diagnostics: Diagnostic[] = [...applyOverrides(doc, sets, locator)];
  const data = pipelineData(doc, source);
  if (!data.ok) return failed([...diagnostics, data.error]);

  diagnostics.push(...validatePipelineSchema(data.value, locator));
  const {spec, diagnostics: specDiagnostics} = readPipelineSpec(data.value, absolute, locator);
  diagnostics.push(...specDiagnostics);

  const environment = environmentOf(env);
  if (!environment.ok) diagnostics.push(environment.error);
  const hasher = await getHasher();
  const {registry, diagnostics: importDiagnostics} = await buildRegistry(
    spec.imports.map((i) => ({specifier: i.specifier, location: locator.value(i.path)})),
    path.dirname(absolute),
    hasher,
    [...spec.nodes.values()].flatMap((n) => (n.type === undefined ? [] : [n.type])),
  );
  diagnostics.push(...importDiagnostics);

  const wiring = checkConnections(spec, registry, locator);
  diagnostics.push(...wiring.diagnostics);
  const resolver = new ReferenceResolver(spec, locator);
  const expansion = expand({
    maxInstances: limits.value.instances,
    spec,
    order: wiring.order,
    types: wiring.types,
    inputs: wiring.inputs,
    counts: wiring.counts,
    resolver,
    locator,
    hasher,
    environment: environment.ok ? environment.value : {},
  });
  // Nodes on or below a cycle were not expanded; still report their reference problems.
  const expanded = new Set(wiring.order);
  for (const node of spec.nodes.values()) {
    if (!expanded.has(node.name)) resolver.gridOfValue(node.with, ['nodes', node.name, 'with']);
  }
  diagnostics.push(...resolver.diagnostics, ...expansion.diagnostics);
  if (diagnostics.some((d) => d.severity === 'error')) return failed(diagnostics);
  const plan = {...buildPlan(spec, absolute, expansion.instances), overrides: [...sets]};
  return ok(diagnostics.length === 0 ? plan : {...plan, warnings: sortDiagnostics(dedupeDiagnostics(diagnostics))});
}
