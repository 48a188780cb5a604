/**
 * Planning speed: a pipeline whose expansion has 10,001 node instances (a 50 x 50 grid over a chain of four nodes,
 * plus one shared source). Timed three ways: `distillery plan` as a fresh process analyzing the pipeline in full (the
 * runner's own time, see own-time.ts), the same with the analysis stored by an earlier command
 * (stored-analysis.ts), and `analyzePipeline` in a warm process (load, validate, expand, keys, order, variants).
 * Target: at most 1 s to plan.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {analyzePipeline} from '../../runner/analyze-pipeline.js';
import {describe, spread, timed} from './own-time-run.js';
import type {Timed} from './own-time-run.js';

const CLI = fileURLToPath(new URL('../../runner/cli-main.js', import.meta.url));
const RUNS = 5;
const TARGET_S = 1;

/** Plain-JS node types (the bench runs compiled, without a TypeScript loader). */
const NODE_MODULE = `const numbers = {kind: 'Numbers'};
export default [
  {type: 'source', params: {type: 'object', properties: {count: {type: 'integer', default: 3}}}, outputs: {numbers}, run() {}},
  {type: 'scale', params: {type: 'object', additionalProperties: false,
    properties: {factor: {type: 'number', default: 1}, offset: {type: 'number', default: 0}}},
    inputs: {numbers}, outputs: {numbers}, run() {}},
  {type: 'sum', inputs: {parts: {kind: 'Numbers', many: true}}, outputs: {metrics: {kind: 'Metrics'}}, run() {}},
];
`;

function pipeline(side: number): string {
  const values = (scale: number) => `[${Array.from({length: side}, (_, i) => (i + 1) * scale).join(', ')}]`;
  return `name: bench
imports: [./nodes.mjs]
grid: {a: ${values(0.5)}, b: ${values(2)}}
nodes:
  src: {type: source, with: {count: 8}}
  s1: {type: scale, in: {numbers: src}, with: {factor: "\${grid.a}", offset: "\${grid.b}"}}
  s2: {type: scale, in: {numbers: s1}, with: {offset: "\${grid.b}"}}
  s3: {type: scale, in: {numbers: s2}, with: {factor: 2}}
  total: {type: sum, in: {parts: [s3, src]}}
`;
}

/** Runs the bench and reports one line per measurement. */
export async function bench(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(path.join(tmpdir(), 'distillery-plan-bench-'));
  try {
    await writeFile(path.join(dir, 'nodes.mjs'), NODE_MODULE);
    await writeFile(path.join(dir, 'p.yaml'), pipeline(50));
    const options = {cwd: dir, env: {DISTILLERY_BACKEND: 'cpu'}};
    // One warm-up (module loading, ajv compilation, wasm instantiation), then the timed runs.
    await analyzePipeline('p.yaml', options);
    const times: number[] = [];
    let instances = 0;
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      const result = await analyzePipeline('p.yaml', options);
      times.push(performance.now() - start);
      if (!result.ok) throw new Error('the bench pipeline should be valid');
      instances = result.value.nodes.size;
    }
    const best = Math.min(...times);
    report(`plan: analyzePipeline of ${instances} instances in a warm process: best ${(best / 1000).toFixed(2)} s of ${times.length}`);
    const plan = async (): Promise<Timed> => {
      const run = await timed(CLI, ['plan', 'p.yaml'], dir, {...process.env, DISTILLERY_CACHE: '', DISTILLERY_BACKEND: 'cpu'});
      if (run.status !== 0) throw new Error(`distillery plan failed: ${run.stderr}`);
      return run;
    };
    const cold: Timed[] = [];
    for (let i = 0; i < RUNS; i++) {
      await rm(path.join(dir, '.distillery', 'analysis'), {recursive: true, force: true});
      cold.push(await plan());
    }
    const stored: Timed[] = [];
    for (let i = 0; i < RUNS; i++) stored.push(await plan());
    report(`plan: distillery plan of ${instances} instances, analyzed in full (${RUNS} runs), the runner's own time: wall ${describe(cold.map((r) => r.wall))}, CPU ${describe(cold.map((r) => r.cpu))}`);
    report(`plan:   with the analysis stored by an earlier command: wall ${describe(stored.map((r) => r.wall))}, CPU ${describe(stored.map((r) => r.cpu))}`);
    const met = (values: number[]) => (spread(values).median <= TARGET_S ? 'met' : 'NOT met');
    report(`plan:   target: planning in at most ${TARGET_S} s: analyzed in full ${met(cold.map((r) => r.wall))} by wall, ${met(cold.map((r) => r.cpu))} by CPU (medians)`);
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}
