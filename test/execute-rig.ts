/**
 * Helpers for execution tests: toy node modules written into a temp dir, and hand-built plans (so the executor is
 * tested without the front-end).
 */
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {JsonObject} from '../nodes/api.js';
import type {CacheKey, Plan, PlannedNode} from '../runner/plan.js';

/**
 * Toy node types. Each appends its instance id to `params.log` when it runs (so tests count computations), sleeps
 * `params.sleepMs`, and:
 *   toy-source: writes `params.value` to `out`
 *   toy-add:    writes `a + sum(b) + params.add` to `out`, records metric `score`
 *   toy-file:   writes `params.text` to a file output `blob`
 *   toy-cat:    reads the file input `blob` (after the sleep) and writes its text to `out`
 *   toy-flaky:  fails while fewer than `params.failures` attempts are logged, then writes 1
 *   toy-report: writes a Markdown file output `page` of kind Report (published by `run`) with the input value
 *   toy-print:  prints `params.lines` lines, then a line without newline on stderr and one on stdout
 *   toy-link:   makes its file output a symbolic link to `params.target`
 *   toy-dir:    makes its file output a folder
 *   toy-rewrite: reads its file input, tries to rewrite it in upper case (logs the error code if it cannot)
 */
export const TOY_MODULE = `
import {appendFileSync, readFileSync, writeFileSync, existsSync, symlinkSync, mkdirSync} from 'node:fs';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms ?? 0));
const note = (ctx) => { if (ctx.params.log) appendFileSync(ctx.params.log, ctx.id + '\\n'); };
const num = {kind: 'Num'};
// Open schemas: the hand-built plans skip validation, and YAML pipelines may pass any of these params.
const params = {type: 'object', properties: {log: {type: 'string'}, sleepMs: {type: 'number', default: 0}}};
export default [
  {type: 'toy-source', params, outputs: {out: num}, async run(ctx) {
    note(ctx); await sleep(ctx.params.sleepMs);
    if (ctx.params.fail) throw new Error('toy failure in ' + ctx.id);
    ctx.progress(1, {step: 1});
    ctx.write('out', ctx.params.value);
  }},
  {type: 'toy-add', params, inputs: {a: num, b: {kind: 'Num', many: true, optional: true}}, outputs: {out: num}, async run(ctx) {
    note(ctx); await sleep(ctx.params.sleepMs);
    if (ctx.params.fail) throw new Error('toy failure in ' + ctx.id);
    const b = ctx.inputs.b ?? [];
    const value = ctx.inputs.a + b.reduce((s, x) => s + x, 0) + (ctx.params.add ?? 0);
    ctx.metric('score', value);
    ctx.log('sum is ' + value);
    ctx.write('out', value);
  }},
  {type: 'toy-file', params, outputs: {blob: {kind: 'Blob'}}, async run(ctx) {
    note(ctx); await sleep(ctx.params.sleepMs);
    writeFileSync(ctx.file('blob', '.txt'), ctx.params.text);
  }},
  {type: 'toy-cat', params, inputs: {blob: {kind: 'Blob'}}, outputs: {out: {kind: 'Text'}}, async run(ctx) {
    note(ctx); await sleep(ctx.params.sleepMs);
    ctx.write('out', readFileSync(ctx.inputs.blob, 'utf8') + '|' + ctx.upstream.blob[0].id);
  }},
  {type: 'toy-report', params, inputs: {a: num}, outputs: {page: {kind: 'Report'}}, async run(ctx) {
    writeFileSync(ctx.file('page', '.md'), '# value ' + ctx.inputs.a + '\\n');
  }},
  {type: 'toy-print', params, outputs: {out: num}, async run(ctx) {
    for (let i = 0; i < ctx.params.lines; i++) console.log('line ' + i);
    process.stderr.write('to stderr without newline');
    process.stdout.write('last words without newline');
    ctx.write('out', 1);
  }},
  {type: 'toy-link', params, outputs: {blob: {kind: 'Blob'}}, async run(ctx) {
    symlinkSync(ctx.params.target, ctx.file('blob', '.txt'));
  }},
  {type: 'toy-dir', params, outputs: {blob: {kind: 'Blob'}}, async run(ctx) {
    mkdirSync(ctx.file('blob'));
    writeFileSync(ctx.file('blob') + '/inside.txt', 'x');
  }},
  {type: 'toy-rewrite', params, inputs: {blob: {kind: 'Blob'}}, outputs: {out: {kind: 'Text'}}, async run(ctx) {
    const text = readFileSync(ctx.inputs.blob, 'utf8');
    try { writeFileSync(ctx.inputs.blob, text.toUpperCase()); } catch (e) { ctx.log('cannot rewrite: ' + e.code); }
    ctx.write('out', text);
  }},
  {type: 'toy-flaky', params, outputs: {out: num}, async run(ctx) {
    note(ctx);
    const attempts = readFileSync(ctx.params.log, 'utf8').split('\\n').filter((l) => l === ctx.id).length;
    if (attempts <= ctx.params.failures) throw new Error('flaky attempt ' + attempts);
    ctx.write('out', 1);
  }},
];
`;

/** A temp folder with the toy module and a computation log. */
export interface Rig {
  readonly dir: string;
  readonly module: string;
  readonly log: string;
  /** Instance ids computed so far, in order. */
  computed(): Promise<string[]>;
  cleanup(): Promise<void>;
}

/** Creates a rig. */
export async function makeRig(): Promise<Rig> {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-exec-'));
  const module = join(dir, 'toy-nodes.mjs');
  await writeFile(module, TOY_MODULE);
  const log = join(dir, 'computed.log');
  await writeFile(log, '');
  return {
    dir,
    module,
    log,
    async computed() {
      return (await readFile(log, 'utf8')).split('\n').filter((l) => l !== '');
    },
    cleanup: () => rm(dir, {recursive: true, force: true}),
  };
}

/** A node of a hand-built plan: inputs are `port -> [upstream id, upstream port]` lists. */
export interface ToySpec {
  readonly id: string;
  readonly type: string;
  readonly params: JsonObject;
  readonly inputs?: Readonly<Record<string, ReadonlyArray<readonly [string, string]>>>;
  readonly outputs: Readonly<Record<string, string>>;
  readonly many?: readonly string[];
  readonly gpu?: number;
  readonly timeoutMs?: number;
}

function hashKey(text: string): CacheKey {
  let h = 0xcbf29ce484222325n;
  for (const c of Buffer.from(text)) h = ((h ^ BigInt(c)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return h.toString(16).padStart(16, '0') as CacheKey;
}

/** Builds a Plan from specs given in topological order; keys chain over the upstream keys like the real ones. */
export function makePlan(module: string, specs: readonly ToySpec[], name = 'toy'): Plan {
  const nodes = new Map<string, PlannedNode>();
  const dependents = new Map<string, string[]>();
  for (const spec of specs) {
    const inputs = Object.entries(spec.inputs ?? {}).map(([port, sources]) => ({
      port,
      from: sources.map((s) => s[0]),
      fromPort: sources.map((s) => s[1]),
      many: spec.many?.includes(port) ?? false,
    }));
    const inputKeys = Object.fromEntries(inputs.map((i) => [i.port, i.from.map((f) => nodes.get(f)?.key ?? '')]));
    // The log path is bookkeeping of the test, not part of what the node computes.
    const {log: _log, ...keyedParams} = spec.params as Record<string, unknown>;
    const keyParts = {type: spec.type, implementation: '1', params: keyedParams as JsonObject, seed: 0, inputs: inputKeys, environment: {}};
    const node: PlannedNode = {
      id: spec.id,
      name: spec.id.replace(/[[{].*$/, ''),
      type: spec.type,
      module,
      params: spec.params,
      seed: 0,
      grid: {},
      inputs,
      outputs: spec.outputs,
      resources: spec.gpu === undefined ? {} : {gpu: spec.gpu},
      ...(spec.timeoutMs === undefined ? {} : {timeoutMs: spec.timeoutMs}),
      key: hashKey(JSON.stringify(keyParts)),
      keyParts,
      location: {file: 'toy.yaml', line: 1, col: 1},
    };
    nodes.set(spec.id, node);
    for (const i of inputs) for (const f of i.from) dependents.set(f, [...(dependents.get(f) ?? []), spec.id]);
  }
  const ids = specs.map((s) => s.id);
  return {
    name,
    file: 'toy.yaml',
    nodes,
    order: ids,
    dependents,
    variants: [{grid: {}, nodes: ids, terminals: ids.filter((id) => !dependents.has(id))}],
  };
}
