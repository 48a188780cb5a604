/**
 * The editor schema: generated from the node registry into docs/pipeline.schema.json, constraining each type's
 * `with:` and `in:`; the shipped pipelines point at it and pass it; `distillery schema FILE` adds imported types.
 */
import {describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {readdir, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import {fileURLToPath} from 'node:url';
import {Ajv} from 'ajv';
import type {ErrorObject} from 'ajv';
import {parse} from 'yaml';
import {editorSchema} from '../runner/editor-schema.js';
import {pipelineTypes} from '../runner/pipeline-types.js';
import {PIPELINE_SCHEMA} from '../runner/pipeline-schema.js';
import {main} from '../runner/cli.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SCHEMA_LINE = '# yaml-language-server: $schema=../docs/pipeline.schema.json';

async function published(): Promise<Record<string, unknown>> {
  return JSON.parse(await readFile(join(REPO, 'docs', 'pipeline.schema.json'), 'utf8')) as Record<string, unknown>;
}

function validator(schema: object): (data: unknown) => ErrorObject[] {
  const validate = new Ajv({allErrors: true, strict: false, allowUnionTypes: true}).compile(schema);
  return (data) => (validate(data) ? [] : [...(validate.errors ?? [])]);
}

class Capture extends Writable {
  text = '';
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('editor schema', () => {
  it('the pipeline schema the analyzer compiles (without meta-validation, for speed) is a valid JSON Schema', () => {
    const ajv = new Ajv({strict: true, allowUnionTypes: true});
    assert.equal(ajv.validateSchema(PIPELINE_SCHEMA), true, JSON.stringify(ajv.errors));
    assert.equal(ajv.validateSchema({...PIPELINE_SCHEMA, properties: {name: {type: 'nonsense'}}}), false, 'and a broken one would fail');
  });

  it('docs/pipeline.schema.json is exactly what the generator makes from the built-in types', async () => {
    const types = await pipelineTypes(undefined, REPO);
    assert.ok(types.ok);
    assert.deepEqual(await published(), editorSchema(types.value), 'regenerate it: distillery schema > docs/pipeline.schema.json');
    // Every built-in type has its own `if type == X then with: ...` branch.
    const branches = ((await published())['definitions'] as {node: {allOf: {if: {properties: {type: {const: string}}}}[]}}).node.allOf;
    assert.deepEqual(
      branches.map((b) => b.if.properties.type.const),
      ['distillJoint', 'evaluate', 'loadCIFAR', 'loadFashionMNIST', 'report', 'selectRandom', 'trainExpert', 'trainStudentKD', 'trainTeacher'],
    );
    // It only adds to the schema the runner validates with.
    assert.deepEqual(Object.keys(PIPELINE_SCHEMA['properties'] as object), Object.keys((await published())['properties'] as object));
  });

  it('every shipped pipeline names the schema on its first line and passes it', async () => {
    const check = validator(await published());
    const files = (await readdir(join(REPO, 'pipelines'))).filter((f) => f.endsWith('.yaml'));
    assert.ok(files.length >= 3);
    for (const file of files) {
      const text = await readFile(join(REPO, 'pipelines', file), 'utf8');
      assert.equal(text.split('\n')[0], SCHEMA_LINE, file);
      assert.deepEqual(check(parse(text)), [], file);
    }
  });

  it('rejects a misspelt param, a wrong port and a wrong value type; accepts ${...} references', async () => {
    const check = validator(await published());
    const quickstart = parse(await readFile(join(REPO, 'pipelines', 'quickstart.yaml'), 'utf8')) as {nodes: Record<string, {with?: Record<string, unknown>; in?: Record<string, unknown>}>};
    const misspelt = structuredClone(quickstart);
    (misspelt.nodes['expert']?.with ?? {})['epochz'] = 4;
    const errors = check(misspelt);
    assert.ok(
      errors.some((e) => e.instancePath === '/nodes/expert/with' && e.keyword === 'additionalProperties' && (e.params as {additionalProperty?: string}).additionalProperty === 'epochz'),
      JSON.stringify(errors.map((e) => [e.instancePath, e.message])),
    );
    const port = structuredClone(quickstart);
    (port.nodes['eval']?.in ?? {})['modle'] = 'student';
    assert.ok(check(port).some((e) => e.instancePath === '/nodes/eval/in' && e.keyword === 'additionalProperties'));
    const wrongType = structuredClone(quickstart);
    (wrongType.nodes['teacher']?.with ?? {})['epochs'] = 'many';
    assert.ok(check(wrongType).some((e) => e.instancePath === '/nodes/teacher/with/epochs'));
    const reference = structuredClone(quickstart);
    (reference.nodes['teacher']?.with ?? {})['epochs'] = '${params.studentEpochs}';
    assert.deepEqual(check(reference), []);

  });

  it('checks the form of in: per port: [each] and [2] on single ports, [*] or a list on many ports', async () => {
    const check = validator(await published());
    const fmnist = parse(await readFile(join(REPO, 'pipelines', 'fmnist.yaml'), 'utf8')) as {nodes: Record<string, {in?: Record<string, unknown>}>};
    assert.equal(fmnist.nodes['studentRandom']?.in?.['set'], 'random[each]', 'the shipped pipeline maps');
    const variant = (node: string, port: string, value: unknown): unknown => {
      const copy = structuredClone(fmnist);
      (copy.nodes[node]?.in ?? {})[port] = value;
      return copy;
    };
    for (const [node, port, value] of [
      ['studentRandom', 'set', 'random[2]'],
      ['studentRandom', 'set', 'random[each].set'],
      ['report', 'evals', 'evalRandom[*]'],
      ['report', 'evals', ['eval[*]', 'evalRandom[1]', 'evalPlain']],
    ] as const) {
      assert.deepEqual(check(variant(node, port, value)), [], `${node}.${port}: ${JSON.stringify(value)}`);
    }
    for (const [node, port, value] of [
      ['studentRandom', 'set', 'random[*]'],
      ['studentRandom', 'set', ['random[0]']],
      ['studentRandom', 'set', 'random[every]'],
      ['report', 'evals', 'evalRandom[each]'],
      ['report', 'evals', 'evalPlain'],
      ['report', 'evals', ['evalRandom[each]']],
    ] as const) {
      assert.ok(check(variant(node, port, value)).some((e) => e.instancePath.startsWith(`/nodes/${node}/in/${port}`)), `${node}.${port}: ${JSON.stringify(value)}`);
    }
  });

  it('distillery schema FILE adds the types of the pipeline imports; a bad import is a located error', async () => {
    const stdout = new Capture();
    const stderr = new Capture();
    const {mkdtemp, writeFile, rm} = await import('node:fs/promises');
    const {tmpdir} = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'distillery-schema-'));
    try {
      const toy = join(REPO, 'test', 'fixtures', 'toy-nodes.ts');
      await writeFile(join(dir, 'p.yaml'), `imports: [${JSON.stringify(toy)}]\nnodes:\n  s: {type: source}\n`);
      const io = {stdout, stderr, cwd: dir, env: {}};
      assert.equal(await main(['schema', 'p.yaml'], io), 0, stderr.text);
      const schema = JSON.parse(stdout.text) as object;
      const check = validator(schema);
      assert.deepEqual(check({nodes: {s: {type: 'source', with: {count: 3}}}}), []);
      assert.ok(check({nodes: {s: {type: 'source', with: {cuont: 3}}}}).some((e) => e.instancePath === '/nodes/s/with'));
      assert.ok(check({nodes: {s: {type: 'scale', with: {factor: 1000}}}}).length > 0, 'maximum 100 holds');
      await writeFile(join(dir, 'bad.yaml'), 'imports: [./missing.ts]\nnodes:\n  s: {type: source}\n');
      const bad = new Capture();
      assert.equal(await main(['schema', 'bad.yaml'], {...io, stdout: new Capture(), stderr: bad}), 2);
      assert.match(bad.text, /bad\.yaml:1:\d+ cannot import "\.\/missing\.ts": no such file/);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
