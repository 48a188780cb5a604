/**
 * The pipeline as typed records, read tolerantly from schema-checked data: a malformed part (already reported by the
 * schema check) is left out, so the later checks still run on the rest and every problem is reported in one go.
 */
import path from 'node:path';
import type {JsonValue} from '../nodes/api.js';
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {parseDuration} from './duration.js';
import {canonicalJson} from './canonical-json.js';
import type {DataPath, PipelineLocator} from './pipeline-document.js';
import {PIPELINE_NAME_HINT, PIPELINE_NAME_MAX, PIPELINE_NAME_PATTERN} from './pipeline-schema.js';

/**
 * How a reference picks instances of its upstream: `'*'` gathers all of them (a `many` port), `'each'` maps over them
 * (the consumer runs once per upstream instance), a number picks one, undefined when not written.
 */
export type RefIndex = number | '*' | 'each' | undefined;

/** One reference in `in:`: `node`, `node.port`, `node[*]`, `node[each]`, `node[2]`, `node[2].port`. */
export interface InputRef {
  readonly text: string;
  readonly node: string;
  readonly index: RefIndex;
  /** The upstream output port, when written. */
  readonly port: string | undefined;
  readonly path: DataPath;
}

/** One `in:` entry: an input port and what feeds it. */
export interface InputSpec {
  readonly port: string;
  readonly refs: readonly InputRef[];
  /** Written as a YAML list (only `many` ports accept that). */
  readonly list: boolean;
  readonly path: DataPath;
}

/** One entry of `nodes:`. */
export interface NodeSpec {
  readonly name: string;
  /** Undefined when `type:` is missing or malformed. */
  readonly type: string | undefined;
  /** `repeat:` as written, 1 when absent or malformed (malformed values are reported by the schema check). */
  readonly repeat: number;
  /** Whether `repeat:` is written (a node that maps over `x[each]` may not have one). */
  readonly repeatWritten: boolean;
  readonly seed: number | undefined;
  /** `timeout:` in milliseconds, when written (and valid). */
  readonly timeoutMs: number | undefined;
  readonly inputs: readonly InputSpec[];
  readonly with: Readonly<Record<string, unknown>>;
}

/** The pipeline. Maps are sorted by name so every later walk is deterministic. */
export interface PipelineSpec {
  readonly name: string;
  readonly imports: readonly {readonly specifier: string; readonly path: DataPath}[];
  readonly params: ReadonlyMap<string, unknown>;
  readonly grid: ReadonlyMap<string, readonly JsonValue[]>;
  /** Every grid variable written, including malformed ones (so they are not also reported as undefined). */
  readonly gridNames: ReadonlySet<string>;
  readonly gpus: readonly string[] | undefined;
  readonly nodes: ReadonlyMap<string, NodeSpec>;
}

const INPUT_REF = /^([A-Za-z][A-Za-z0-9_-]*)(?:\[(\*|\d+|each)\])?(?:\.([A-Za-z_][A-Za-z0-9_-]*))?$/;

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function sortedEntries(value: unknown): [string, unknown][] {
  return isRecord(value) ? Object.keys(value).sort().map((k) => [k, value[k]]) : [];
}

function parseRef(text: string, refPath: DataPath): InputRef | undefined {
  const match = INPUT_REF.exec(text.trim());
  if (match === null) return undefined;
  const [, node = '', index, port] = match;
  return {text, node, index: index === undefined ? undefined : index === '*' || index === 'each' ? index : Number(index), port, path: refPath};
}

/** Reads the typed pipeline out of `data`; `in:` values that do not parse as references are reported. */
export function readPipelineSpec(data: unknown, file: string, locator: PipelineLocator): {spec: PipelineSpec; diagnostics: Diagnostic[]} {
  const diagnostics: Diagnostic[] = [];
  const root = isRecord(data) ? data : {};
  const nodes = new Map<string, NodeSpec>();
  for (const [name, raw] of sortedEntries(root['nodes'])) {
    if (!isRecord(raw)) continue;
    const inputs: InputSpec[] = [];
    for (const [port, value] of sortedEntries(raw['in'])) {
      const portPath = ['nodes', name, 'in', port];
      const list = Array.isArray(value);
      const items = list ? (value as unknown[]) : [value];
      const refs: InputRef[] = [];
      items.forEach((item, i) => {
        if (typeof item !== 'string') return;
        const refPath = list ? [...portPath, i] : portPath;
        const ref = parseRef(item, refPath);
        if (ref === undefined) {
          diagnostics.push(
            errorAt('bad-input-reference', locator.value(refPath), `"${item}" is not a node reference`,
              'write node, node.port, node[*] (all instances), node[each] (one run per instance) or node[2] (one instance)'),
          );
        } else refs.push(ref);
      });
      inputs.push({port, refs, list, path: portPath});
    }
    const repeat = raw['repeat'];
    const seed = raw['seed'];
    let timeoutMs: number | undefined;
    // Other types are the schema's to report.
    if (typeof raw['timeout'] === 'number' || typeof raw['timeout'] === 'string') {
      const parsed = parseDuration(raw['timeout']);
      if (parsed.ok) timeoutMs = parsed.value;
      else {
        diagnostics.push(
          errorAt('invalid-value', locator.value(['nodes', name, 'timeout']), `timeout of node "${name}": ${parsed.error}`,
            'write seconds (timeout: 600) or a duration such as "90s", "45m", "1h30m"'),
        );
      }
    }
    nodes.set(name, {
      name,
      type: typeof raw['type'] === 'string' && raw['type'] !== '' ? raw['type'] : undefined,
      repeat: Number.isInteger(repeat) && (repeat as number) >= 1 ? (repeat as number) : 1,
      repeatWritten: repeat !== undefined,
      seed: Number.isInteger(seed) ? (seed as number) : undefined,
      timeoutMs,
      inputs,
      with: isRecord(raw['with']) ? raw['with'] : {},
    });
  }
  const grid = new Map<string, readonly JsonValue[]>();
  for (const [name, values] of sortedEntries(root['grid'])) {
    if (!Array.isArray(values) || values.length === 0) continue;
    // Two values with one canonical form (1 and 1.0) would make two instances with one id: report, keep the first.
    const seen = new Map<string, number>();
    const unique: JsonValue[] = [];
    values.forEach((value: unknown, i) => {
      const json = canonicalJson(value);
      const text = json.ok ? json.value : `#${i}`;
      const first = seen.get(text);
      if (first === undefined) {
        seen.set(text, i);
        unique.push(value as JsonValue);
        return;
      }
      diagnostics.push(
        errorAt('duplicate-grid-value', locator.value(['grid', name, i]), `grid variable "${name}" has the value ${text} twice (also at position ${first + 1})`,
          'list each value once: values are compared as JSON, so 1 and 1.0 are the same'),
      );
    });
    grid.set(name, unique);
  }
  const imports = Array.isArray(root['imports'])
    ? (root['imports'] as unknown[]).flatMap((s, i) => (typeof s === 'string' && s !== '' ? [{specifier: s, path: ['imports', i]}] : []))
    : [];
  const devices = root['devices'];
  const gpus = isRecord(devices) && Array.isArray(devices['gpus']) ? (devices['gpus'] as unknown[]).map(String) : undefined;
  let name = typeof root['name'] === 'string' && root['name'] !== '' ? root['name'] : undefined;
  if (name === undefined) {
    // No name: the file name gives it, and must then be as safe a folder name as a written one.
    name = path.basename(file).replace(/\.ya?ml$/i, '');
    if (!new RegExp(PIPELINE_NAME_PATTERN).test(name) || name.length > PIPELINE_NAME_MAX) {
      diagnostics.push(
        errorAt('invalid-name', locator.value([]), `the pipeline has no name: and its file name gives ${JSON.stringify(name)}, which cannot be a folder name`,
          `add a name, e.g. name: experiment (${PIPELINE_NAME_HINT})`),
      );
    }
  }
  return {spec: {name, imports, params: new Map(sortedEntries(root['params'])), grid, gridNames: new Set(sortedEntries(root['grid']).map(([k]) => k)), gpus, nodes}, diagnostics};
}
