/** Shared by the commands that read a pipeline: analyze it, or render its diagnostics on stderr (exit code 2). */
import {analyzePipeline} from '../analyze-pipeline.js';
import {renderDiagnostics} from '../diagnostic.js';
import type {Plan} from '../plan.js';
import type {CommandIO} from './command.js';
import {useColor} from './use-color.js';

/**
 * The plan (after writing its warnings, if any, to `io.stderr`), or undefined after the diagnostics were written
 * there.
 */
export async function analyzeOrReport(file: string, sets: readonly string[], io: CommandIO): Promise<Plan | undefined> {
  const analyzed = await analyzePipeline(file, {sets, env: io.env, cwd: io.cwd});
  const color = useColor(io.stderr, io.env);
  if (!analyzed.ok) {
    io.stderr.write(renderDiagnostics(analyzed.error, {color}));
    return undefined;
  }
  const warnings = analyzed.value.warnings ?? [];
  if (warnings.length > 0) io.stderr.write(renderDiagnostics(warnings, {color}));
  return analyzed.value;
}
