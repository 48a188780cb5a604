/** Shared by the commands that read a pipeline: analyze it, or render its diagnostics on stderr (exit code 2). */
import {analyzePipeline} from '../analyze-pipeline.js';
import {renderDiagnostics} from '../diagnostic.js';
import type {Plan} from '../plan.js';
import type {CommandIO} from './command.js';

/** The plan, or undefined after the diagnostics were written to `io.stderr`. */
export async function analyzeOrReport(file: string, sets: readonly string[], io: CommandIO): Promise<Plan | undefined> {
  const analyzed = await analyzePipeline(file, {sets, env: io.env, cwd: io.cwd});
  if (analyzed.ok) return analyzed.value;
  io.stderr.write(renderDiagnostics(analyzed.error, {color: io.stderr.isTTY === true}));
  return undefined;
}
