/**
 * The JSON Schema (draft-07) of a pipeline file. This object is the source of truth; `docs/pipeline.schema.json`
 * is a copy for editors (`# yaml-language-server: $schema=...`), and a test keeps the two equal.
 */
import type {JsonObject} from '../nodes/api.js';

/** Node names, grid variables and params: identifiers, so `${grid.x}`, `node.port` and `node[i]` parse unambiguously. */
export const NAME_PATTERN = '^[A-Za-z][A-Za-z0-9_-]*$';

/**
 * Pipeline names: the name is a folder name (`.distillery/reports/<name>/`), so it may hold no path separators and
 * cannot be `.` or `..` (which once made `run` replace the whole `.distillery/` folder).
 */
export const PIPELINE_NAME_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]*$';

/** Longest pipeline name (it becomes a folder name). */
export const PIPELINE_NAME_MAX = 100;

/** Why names are restricted, for the hint of every invalid pipeline name. */
export const PIPELINE_NAME_HINT =
  `the name is the folder of its reports: letters, digits, ".", "_" and "-", starting with a letter or digit, at most ${PIPELINE_NAME_MAX} characters`;

/** The keys a node entry may have (used for did-you-mean on unknown keys). */
export const NODE_KEYS = ['type', 'description', 'repeat', 'seed', 'timeout', 'in', 'with'] as const;

/** The top-level keys of a pipeline. */
export const TOP_LEVEL_KEYS = ['name', 'description', 'imports', 'params', 'grid', 'devices', 'nodes'] as const;

/** The pipeline schema. */
export const PIPELINE_SCHEMA: JsonObject = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://github.com/distillery/distillery/docs/pipeline.schema.json',
  title: 'distillery pipeline',
  description: 'A DAG of typed nodes, expanded over a parameter grid, run with content-hash caching.',
  type: 'object',
  additionalProperties: false,
  required: ['nodes'],
  properties: {
    name: {
      type: 'string',
      pattern: PIPELINE_NAME_PATTERN,
      maxLength: PIPELINE_NAME_MAX,
      description: 'The experiment name (defaults to the file name); letters, digits, ".", "_" and "-", starting with a letter or digit.',
    },
    description: {type: 'string'},
    imports: {
      type: 'array',
      description: 'ES modules (paths relative to this file) that default-export an array of node definitions.',
      items: {type: 'string', minLength: 1},
    },
    params: {
      type: 'object',
      description: 'Named values usable as ${params.NAME}; they may refer to ${params.*} and ${grid.*}.',
      propertyNames: {pattern: NAME_PATTERN},
    },
    grid: {
      type: 'object',
      description: 'Variables with lists of values; nodes that use ${grid.NAME} run once per combination.',
      propertyNames: {pattern: NAME_PATTERN},
      additionalProperties: {type: 'array', minItems: 1},
    },
    devices: {
      type: 'object',
      additionalProperties: false,
      properties: {
        gpus: {
          type: 'array',
          description: 'GPU ids to schedule on (as CUDA_VISIBLE_DEVICES sees them).',
          items: {type: ['integer', 'string']},
          uniqueItems: true,
        },
      },
    },
    nodes: {
      type: 'object',
      description: 'The nodes of the graph, by name.',
      minProperties: 1,
      propertyNames: {pattern: NAME_PATTERN},
      additionalProperties: {$ref: '#/definitions/node'},
    },
  },
  definitions: {
    node: {
      type: 'object',
      additionalProperties: false,
      required: ['type'],
      properties: {
        type: {type: 'string', minLength: 1, description: 'The node type (built-in or from imports).'},
        description: {type: 'string'},
        repeat: {type: 'integer', minimum: 1, description: 'Number of instances name[0]..name[K-1], each with its own seed.'},
        seed: {type: 'integer', description: 'Mixed into the instance seeds, to draw a different set.'},
        timeout: {
          type: ['number', 'string'],
          description: 'Longest an instance may run (seconds, or "90s", "45m", "1h30m"); past it, it fails and its worker is killed.',
        },
        in: {
          type: 'object',
          description: 'Input port -> `node`, `node.port`, `node[2]`, `node[each]` (once per instance), `node[*]` (all), or a list.',
          additionalProperties: {type: ['string', 'array'], items: {type: 'string'}, minItems: 1},
        },
        with: {type: 'object', description: 'Params, checked against the node type params schema.'},
      },
    },
  },
};
