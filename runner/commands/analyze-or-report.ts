/** Shared by the commands that read a pipeline: analyze it, or render its diagnostics on stderr (exit code 2). */
import {analyzePipeline} from '../analyze-pipeline.js';
import {renderDiagnostics} from '../diagnostic.js';
import {analysisDir} from '../stored-analysis.js';
import type {Plan} from '../plan.js';
import type {CommandIO} from './command.js';
import {useColor} from './use-color.js';

/**
 * How a command uses stored analyses (see stored-analysis.ts): `write` uses and stores them (`run`, `plan`),
 * `read` only uses them, `none` always analyzes in full (`validate`).
 */
export type StoredAnalysisUse = 'write' | 'read' | 'none';

/**
 * The plan (after writing its warnings, if any, to `io.stderr`), or undefined after the diagnostics were written
 * there.
 */
export async function analyzeOrReport(file: string, sets: readonly string[], io: CommandIO, stored: StoredAnalysisUse = 'read'): Promise<Plan | undefined> {
  const cache = stored === 'none' ? {} : {cache: {dir: analysisDir(io.cwd), write: stored === 'write'}};
  const analyzed = await analyzePipeline(file, {sets, env: io.env, cwd: io.cwd, ...cache});
  const color = useColor(io.stderr, io.env);
  if (!analyzed.ok) {
    io.stderr.write(renderDiagnostics(analyzed.error, {color}));
    return undefined;
  }
  const warnings = analyzed.value.warnings ?? [];
  if (warnings.length > 0) io.stderr.write(renderDiagnostics(warnings, {color}));
  return analyzed.value;
}
