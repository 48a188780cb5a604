/**
 * Analyzer speed: a pipeline whose expansion has 10,001 node instances (a 50 x 50 grid over a chain of four nodes,
 * plus one shared source), timed through `analyzePipeline` (load, validate, expand, keys, graph, variants).
 * Target: under 3 s.
 */
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import path from 'node:path';
import {analyzePipeline} from '../../runner/analyze-pipeline.js';

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
    report(`plan: analyzePipeline of ${instances} instances: best ${(best / 1000).toFixed(2)} s of ${times.length} (target < 3 s)`);
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}
