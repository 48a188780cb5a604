/**
 * No-op run speed: a generated pipeline of 1,000 toy instances is run once to fill the cache, then a fully cached
 * `run` is timed through the compiled CLI process (`node dist/runner/cli-main.js run ...`). Target: under 1 s wall.
 * Cache hits check manifests and file sizes only, so this measures analysis + lookups + the run record.
 */
import {spawnSync} from 'node:child_process';
import {mkdtemp, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';

const CLI = fileURLToPath(new URL('../../runner/cli-main.js', import.meta.url));

const TOY = `
const num = {kind: 'Num'};
const params = {type: 'object', properties: {a: {type: 'number'}, b: {type: 'number'}}};
export default [
  {type: 'bench-source', params, outputs: {out: num}, run(ctx) { ctx.write('out', 1); }},
  {type: 'bench-step', params, inputs: {x: num}, outputs: {out: num},
   run(ctx) { const v = ctx.inputs.x + ctx.params.a * 10 + ctx.params.b; ctx.metric('v', v); ctx.write('out', v); }},
];
`;

function pipeline(): string {
  const a = Array.from({length: 100}, (_, i) => i);
  const b = Array.from({length: 10}, (_, i) => i);
  // 1 shared source + 100 x 10 grid instances of one step = 1,001 instances.
  return `name: bench
imports: [./bench-nodes.mjs]
grid:
  a: ${JSON.stringify(a)}
  b: ${JSON.stringify(b)}
nodes:
  src: {type: bench-source}
  step:
    type: bench-step
    in: {x: src}
    with: {a: "\${grid.a}", b: "\${grid.b}"}
`;
}

function runCli(dir: string): {seconds: number; status: number | null; tail: string} {
  const t0 = performance.now();
  const result = spawnSync(process.execPath, [CLI, 'run', 'p.yaml'], {cwd: dir, encoding: 'utf8', env: {...process.env, DISTILLERY_CACHE: ''}});
  const seconds = (performance.now() - t0) / 1000;
  const tail = (result.stdout + result.stderr).trim().split('\n').slice(-2).join(' / ');
  return {seconds, status: result.status, tail};
}

/** Runs the benchmark and reports its figures. */
export async function bench(report: (line: string) => void): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-run-bench-'));
  try {
    await writeFile(join(dir, 'bench-nodes.mjs'), TOY);
    await writeFile(join(dir, 'p.yaml'), pipeline());
    const fill = runCli(dir);
    report(`run.bench: first run of 1,001 toy instances: ${fill.seconds.toFixed(2)} s (exit ${fill.status}; ${fill.tail})`);
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const noop = runCli(dir);
      if (noop.status !== 0) throw new Error(`no-op run failed: ${noop.tail}`);
      times.push(noop.seconds);
    }
    const best = Math.min(...times);
    report(`run.bench: no-op (fully cached) run, 1,001 instances, CLI process wall: best ${best.toFixed(3)} s of ` +
      `[${times.map((t) => t.toFixed(3)).join(', ')}] (target < 1 s: ${best < 1 ? 'met' : 'NOT met'})`);
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}
