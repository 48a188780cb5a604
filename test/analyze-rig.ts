/**
 * Test rig for the analyzer tests: a temp folder holding generated pipelines that import the toy node types
 * (through a one-line re-export, so YAML lines stay short and independent of where the repo lives).
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import {analyzePipeline} from '../runner/analyze-pipeline.js';
import type {Diagnostic} from '../runner/diagnostic.js';
import type {Plan} from '../runner/plan.js';

/** The toy node types module (see its header). */
export const TOY_NODES = fileURLToPath(new URL('./fixtures/toy-nodes.ts', import.meta.url));

/** A temp folder with `toy.ts` re-exporting the toy node types; dispose it with `await using`. */
export class AnalyzeRig implements AsyncDisposable {
  readonly dir: string;

  private constructor(dir: string) {
    this.dir = dir;
  }

  static async create(): Promise<AnalyzeRig> {
    const dir = await mkdtemp(path.join(tmpdir(), 'distillery-analyze-'));
    await writeFile(path.join(dir, 'toy.ts'), `export {default} from ${JSON.stringify(pathToFileURL(TOY_NODES).href)};\n`);
    return new AnalyzeRig(dir);
  }

  /** Writes a file into the rig and returns its absolute path. */
  async write(name: string, text: string): Promise<string> {
    const file = path.join(this.dir, name);
    await writeFile(file, text);
    return file;
  }

  /** Analyzes `name` with the rig as working directory and the cpu backend (so keys do not depend on the host). */
  analyze(name: string, sets: readonly string[] = []): ReturnType<typeof analyzePipeline> {
    return analyzePipeline(name, {sets, cwd: this.dir, env: {DISTILLERY_BACKEND: 'cpu'}});
  }

  /** Analyzes and fails the test with the rendered diagnostics if there are any. */
  async plan(name: string, sets: readonly string[] = []): Promise<Plan> {
    const result = await this.analyze(name, sets);
    if (!result.ok) {
      const {renderDiagnostics} = await import('../runner/diagnostic.js');
      throw new Error(`expected a plan, got:\n${renderDiagnostics(result.error, {color: false})}`);
    }
    return result.value;
  }

  /** Analyzes and returns the diagnostics, failing the test if the pipeline was valid. */
  async diagnostics(name: string, sets: readonly string[] = []): Promise<readonly Diagnostic[]> {
    const result = await this.analyze(name, sets);
    if (result.ok) throw new Error('expected diagnostics, got a plan');
    return result.error;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await rm(this.dir, {recursive: true, force: true});
  }
}

/** Instance id -> key of a plan. */
export function keysOf(plan: Plan): Map<string, string> {
  return new Map([...plan.nodes].map(([id, node]) => [id, node.key]));
}
