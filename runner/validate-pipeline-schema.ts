/** Checks pipeline data against the pipeline JSON Schema (all errors at once), located in the YAML. */
import {Ajv} from 'ajv';
import type {ValidateFunction} from 'ajv';
import type {Diagnostic, DiagnosticReason} from './diagnostic.js';
import type {DataPath, PipelineLocator} from './pipeline-document.js';
import {PIPELINE_NAME_HINT, PIPELINE_SCHEMA} from './pipeline-schema.js';
import {dottedPath, schemaDiagnostics, showValue} from './schema-errors.js';

function valueOfName(data: unknown): unknown {
  return data !== null && typeof data === 'object' ? (data as {name?: unknown}).name : undefined;
}

let compiled: ValidateFunction | undefined;

function reasonFor(path: DataPath, keyword: string): DiagnosticReason {
  if (path[0] === 'nodes' && path.length === 3 && path[2] === 'repeat') return 'bad-repeat';
  if (path[0] === 'grid' && path.length === 2 && keyword === 'minItems') return 'empty-grid';
  if (path.length === 1 && path[0] === 'name' && keyword !== 'type') return 'invalid-name';
  return 'invalid-value';
}

/** Validates `data` (the pipeline as plain JS) and returns every problem, located. */
export function validatePipelineSchema(data: unknown, locator: PipelineLocator): Diagnostic[] {
  // The schema is ours and fixed, so ajv need not check it against the JSON Schema meta-schema on every command (that
  // compiles the meta-schema first: about 25 ms of a cold plan); test/editor-schema.test.ts checks it once.
  compiled ??= new Ajv({allErrors: true, verbose: true, strict: true, allowUnionTypes: true, validateSchema: false}).compile(PIPELINE_SCHEMA);
  if (compiled(data)) return [];
  return schemaDiagnostics(compiled.errors ?? [], data, {
    locator,
    basePath: [],
    member: (name) => `key "${name}"`,
    describe: (path) => {
      if (path[0] === 'grid' && path.length === 2) return `grid variable "${path[1]}"`;
      if (path[0] === 'nodes' && path.length === 3 && path[2] === 'repeat') return `repeat of node "${path[1]}"`;
      return dottedPath(path);
    },
    reasonFor,
    hintFor: (path) => {
      if (reasonFor(path, '') === 'bad-repeat') return 'repeat is the number of instances: a whole number, 1 or more';
      if (path[0] === 'grid' && path.length === 2) return 'list the values, e.g. [0.3, 0.7]; a single value is [0.3]';
      if (path.length === 1 && path[0] === 'name') return PIPELINE_NAME_HINT;
      return undefined;
    },
  }).map((d) => {
    // ajv's "must NOT have fewer than 1 items" says the right thing the wrong way for a grid.
    if (d.reason === 'empty-grid') return {...d, message: d.message.replace(/ must NOT have fewer than 1 items$/, ' has no values')};
    // ... and its "must match pattern "^[A-Za-z0-9]..."" names a regular expression where a person wants a reason.
    if (d.reason === 'invalid-name' && d.message.startsWith('name must ')) {
      return {...d, message: `the pipeline name ${showValue(valueOfName(data))} cannot be a folder name`};
    }
    return d;
  });
}
