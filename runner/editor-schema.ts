/**
 * The JSON Schema for editors (`# yaml-language-server: $schema=...`): the pipeline schema plus, for each node type
 * of the registry, what its `with:` and `in:` accept (an `if: {type: X} then: {...}` per type), with the params'
 * descriptions and defaults, so an editor completes type names, params and ports and flags a misspelt param.
 *
 * `docs/pipeline.schema.json` is this schema over the built-in types (`distillery schema` prints it; a test keeps the
 * committed file equal to it); `distillery schema FILE` adds the types of that pipeline's `imports:`.
 *
 * An `in:` value is checked for its form per port: a single port takes `node`, `node[2]` or `node[each]`, a `many`
 * port `node[*]` or a list.
 *
 * A `with:` value may be a `${params.x}` / `${grid.x}` reference that resolves to a number only later, so every
 * param also accepts such a string here; the runner checks the resolved value against the real params schema.
 */
import type {JsonObject, JsonValue, NodeDefinition} from '../nodes/api.js';
import {PIPELINE_SCHEMA} from './pipeline-schema.js';

/** A string holding a `${...}` reference (resolved by the runner before the params are checked). */
const REFERENCE: JsonObject = {
  type: 'string',
  pattern: '\\$\\{[^}]+\\}',
  description: 'A reference such as ${params.NAME} or ${grid.NAME}, resolved before the params are checked.',
};

function isObject(value: JsonValue | undefined): value is JsonObject {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

/** A param's schema that also accepts a reference, keeping its description and default on top for editors. */
function referable(param: JsonValue): JsonObject {
  if (!isObject(param)) return {anyOf: [param, REFERENCE]};
  const {description, default: fallback, ...rest} = param;
  return {
    ...(description === undefined ? {} : {description}),
    ...(fallback === undefined ? {} : {default: fallback}),
    anyOf: [rest, REFERENCE],
  };
}

/** The schema of `with:` for one type. */
function withSchema(definition: NodeDefinition): JsonObject {
  const params = definition.params ?? {type: 'object'};
  const properties = isObject(params['properties']) ? params['properties'] : {};
  return {
    ...params,
    description: `Params of ${definition.type}${definition.description === undefined ? '' : `: ${definition.description}`}`,
    properties: Object.fromEntries(Object.entries(properties).map(([name, schema]) => [name, referable(schema)])),
  };
}

const NAME = '[A-Za-z][A-Za-z0-9_-]*';
const PORT = '(\\.[A-Za-z_][A-Za-z0-9_-]*)?';

/** What a single port accepts: `node`, `node.port`, `node[2]`, `node[each]` (the runner says why anything else fails). */
const SINGLE_REFERENCE: JsonObject = {type: 'string', pattern: `^\\s*${NAME}(\\[(\\d+|each)\\])?${PORT}\\s*$`};

/** What a `many` port accepts: `node[*]`, or a list of `node`, `node[2]` and `node[*]` references. */
const MANY_REFERENCE: JsonObject = {
  anyOf: [
    {type: 'string', pattern: `^\\s*${NAME}\\[\\*\\]${PORT}\\s*$`},
    {type: 'array', minItems: 1, items: {type: 'string', pattern: `^\\s*${NAME}(\\[(\\d+|\\*)\\])?${PORT}\\s*$`}},
  ],
};

/** The schema of `in:` for one type: its input ports, each described by kind and arity and checked for its form. */
function inSchema(definition: NodeDefinition): JsonObject {
  const ports = Object.entries(definition.inputs ?? {}).map(([port, spec]) => {
    const arity = spec.many === true ? 'many: node[*], or a list' : 'one: node, node[2], or node[each] to run once per instance of node';
    const what = `${spec.kind} (${arity}${spec.optional === true ? ', optional' : ''})`;
    const base = spec.many === true ? MANY_REFERENCE : SINGLE_REFERENCE;
    return [port, {...base, description: spec.description === undefined ? what : `${what}: ${spec.description}`}];
  });
  return {type: 'object', additionalProperties: false, properties: Object.fromEntries(ports)};
}

/** The editor schema over `types` (sorted by name, so the output is deterministic). */
export function editorSchema(types: readonly NodeDefinition[]): JsonObject {
  const schema = structuredClone(PIPELINE_SCHEMA) as Record<string, JsonValue>;
  const definitions = schema['definitions'] as Record<string, JsonValue>;
  const node = definitions['node'] as Record<string, JsonValue>;
  const properties = node['properties'] as Record<string, JsonValue>;
  const sorted = [...types].sort((a, b) => (a.type < b.type ? -1 : a.type > b.type ? 1 : 0));
  // The known names first (for completion), then any name: types from `imports:` are not known here.
  properties['type'] = {
    ...(properties['type'] as JsonObject),
    anyOf: [
      ...sorted.map((d) => ({const: d.type, ...(d.description === undefined ? {} : {description: d.description})})),
      {type: 'string'},
    ],
  };
  node['allOf'] = sorted.map((d) => ({
    if: {properties: {type: {const: d.type}}, required: ['type']},
    then: {properties: {with: withSchema(d), in: inSchema(d)}},
  }));
  return schema as JsonObject;
}
