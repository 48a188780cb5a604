/**
 * Checks a node instance's resolved params against its type's params schema (ajv, all errors, defaults applied), and
 * locates each problem at the `with:` value in the YAML, noting where a `${...}` value came from.
 */
import {Ajv} from 'ajv';
import type {ValidateFunction} from 'ajv';
import type {JsonObject, JsonValue, NodeDefinition} from '../nodes/api.js';
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import type {PipelineLocator} from './pipeline-document.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {dottedPath, schemaDiagnostics, showValue} from './schema-errors.js';

const ajv = new Ajv({allErrors: true, verbose: true, useDefaults: true, strict: false});
const compiled = new WeakMap<NodeDefinition, Result<ValidateFunction, string>>();

function validatorOf(definition: NodeDefinition): Result<ValidateFunction, string> {
  let validator = compiled.get(definition);
  if (validator === undefined) {
    try {
      validator = ok(ajv.compile(definition.params ?? {type: 'object'}));
    } catch (error: unknown) {
      validator = fail(error instanceof Error ? error.message : String(error));
    }
    compiled.set(definition, validator);
  }
  return validator;
}

function at(value: unknown, path: readonly (string | number)[]): unknown {
  let v = value;
  for (const seg of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[seg] : undefined;
  return v;
}

/**
 * Validates `resolved` (the instance's `with:` after substitution; `raw` is the value as written) and returns the
 * params with schema defaults filled in, or the located problems.
 */
export function validateParams(
  nodeName: string,
  definition: NodeDefinition,
  raw: Readonly<Record<string, unknown>>,
  resolved: JsonValue,
  locator: PipelineLocator,
): Result<JsonObject, Diagnostic[]> {
  const validator = validatorOf(definition);
  if (!validator.ok) {
    return fail([
      errorAt('invalid-params', locator.value(['nodes', nodeName, 'type']), `the params schema of node type "${definition.type}" is invalid: ${validator.error}`,
        'fix the params schema in the module that defines the type'),
    ]);
  }
  // ajv fills defaults in place; a fresh copy keeps shared resolved values (params, grid values) untouched. Through
  // JSON (the value is JSON-checked already): cheaper than structuredClone for the thousands of instances of a grid,
  // and an own `__proto__` key stays an own key as it does in structuredClone.
  const params = JSON.parse(JSON.stringify(resolved)) as JsonObject;
  if (validator.value(params)) return ok(params);
  const base = ['nodes', nodeName, 'with'];
  return fail(
    schemaDiagnostics(validator.value.errors ?? [], params, {
      locator,
      basePath: base,
      member: (name) => `param "${name}" of ${definition.type}`,
      describe: (path) => (path.length === 0 ? `the params of "${nodeName}"` : `param "${dottedPath(path)}"`),
      reasonFor: () => 'invalid-params',
      hintFor: (path) => {
        const written = at(raw, path);
        return typeof written === 'string' && written.includes('${')
          ? `"${written}" is ${showValue(at(resolved, path))} here`
          : undefined;
      },
    }).map((d) => (d.reason === 'unknown-key' || d.reason === 'missing-key' ? {...d, reason: 'invalid-params'} : d)),
  );
}
