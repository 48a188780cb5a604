/**
 * The front-end in one call: load the YAML, apply `--set` overrides, validate, expand the grid, analyze the graph and
 * compute keys (analyze-source.ts). Every problem found on the way is collected and returned together as located
 * diagnostics. With a `cache`, a pipeline analyzed before with the same inputs is not analyzed again.
 */
import {closeSync, fstatSync, openSync, readSync} from 'node:fs';
import path from 'node:path';
import type {Diagnostic} from './diagnostic.js';
import {dedupeDiagnostics, errorAt, sortDiagnostics} from './diagnostic.js';
import {keyEnvironment} from './key-environment.js';
import {LIMIT_VARIABLES, limitsFrom} from './limits.js';
import type {Plan} from './plan.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {SourceText} from './source-text.js';
import {openStoredAnalysis} from './stored-analysis.js';
import type {StoredAnalysisOptions} from './stored-analysis.js';

/** Options of analyzePipeline. */
export interface AnalyzeOptions {
  /** `--set path=value` overrides, applied in order. */
  readonly sets?: readonly string[];
  /** Environment for the backend probe (`DISTILLERY_BACKEND`); defaults to `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Directory that relative paths (and diagnostic file names) are relative to; defaults to `process.cwd()`. */
  readonly cwd?: string;
  /**
   * Where to keep this pipeline's last analysis (`run` and `plan` use `.distillery/analysis`), so an unchanged
   * pipeline is not analyzed again; see stored-analysis.ts. Default: none.
   */
  readonly cache?: StoredAnalysisOptions;
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
 * until memory runs out. Synchronous: a pipeline is a small file read once, before anything else can run, and four
 * thread-pool round trips cost more than the reads.
 */
function readBounded(file: string, maxBytes: number): Result<string, {why: string; tooLarge: boolean}> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error: unknown) {
    const code = (error as NodeJS.ErrnoException).code;
    return fail({why: code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : String((error as Error).message), tooLarge: false});
  }
  try {
    const info = fstatSync(fd);
    if (info.isDirectory()) return fail({why: 'it is a directory', tooLarge: false});
    if (info.isFile() && info.size > maxBytes) return fail({why: `it has ${info.size} bytes, more than ${maxBytes}`, tooLarge: true});
    const chunks: Buffer[] = [];
    let length = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const bytesRead = readSync(fd, chunk, 0, chunk.length, null);
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
    closeSync(fd);
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
  const read = readBounded(absolute, limits.value.pipelineBytes);
  if (!read.ok) {
    const hint = read.error.tooLarge ? `a pipeline is at most ${limits.value.pipelineBytes} bytes; ${LIMIT_VARIABLES.pipelineBytes} raises the limit` : undefined;
    return failed([errorAt('file-unreadable', {file: display, line: 1, col: 1}, `cannot read the pipeline: ${read.error.why}`, hint)]);
  }
  const input = {absolute, display, text: read.value, sets, limits: limits.value, environment: environmentOf(env)};
  const stored = options.cache === undefined ? undefined : await openStoredAnalysis(options.cache, input);
  const hit = await stored?.lookup();
  if (hit !== undefined) return ok(hit);
  // The full analysis loads the YAML parser, the schema validator and the graph library: only when it is needed.
  const {analyzeSource} = await import('./analyze-source.js');
  const analysis = await analyzeSource(input);
  if (stored !== undefined && analysis.result.ok && analysis.registry !== undefined) await stored.save(analysis.result.value, analysis.registry);
  return analysis.result;
}
