/**
 * `name[*]` across the grid: a node that gathers every instance of a grid-expanded node is one shared instance, and
 * each variant's results come from its own instances, not from the shared gatherer.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {mkdtemp, writeFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {analyzePipeline} from '../runner/analyze-pipeline.js';

const toyNodes = fileURLToPath(new URL('./fixtures/toy-nodes.ts', import.meta.url));

async function planOf(yaml: string) {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-gather-'));
  try {
    const file = join(dir, 'p.yaml');
    await writeFile(file, yaml);
    const result = await analyzePipeline(file);
    assert.ok(result.ok, 'the pipeline should analyze');
    return result.value;
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
}

const header = `name: gather
imports: [${JSON.stringify(toyNodes)}]
grid: {a: [1, 2], b: [3, 4]}
nodes:
  src: {type: source, with: {count: 2}}
  sc: {type: scale, in: {numbers: src}, with: {factor: "\${grid.a}"}}
  sc2: {type: scale, in: {numbers: sc}, with: {factor: "\${grid.b}"}}
`;

test('a [*] connection gathers every grid instance into one shared node', async () => {
  const plan = await planOf(header + '  all: {type: sum, in: {parts: "sc2[*]"}}\n');
  const all = plan.nodes.get('all');
  assert.ok(all, 'the gatherer is a single instance named without grid values');
  assert.deepEqual(all.grid, {});
  assert.deepEqual(all.inputs[0]?.from, ['sc2{a=1,b=3}', 'sc2{a=1,b=4}', 'sc2{a=2,b=3}', 'sc2{a=2,b=4}']);
  // Results per variant come from the variant's own instances, not from the shared gatherer downstream.
  assert.deepEqual(plan.variants.map((v) => v.terminals), [['sc2{a=1,b=3}'], ['sc2{a=1,b=4}'], ['sc2{a=2,b=3}'], ['sc2{a=2,b=4}']]);
});
