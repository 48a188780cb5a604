/**
 * Turns ajv errors into located diagnostics: each error's instance path is mapped back to the YAML text (the value,
 * or the key for unknown and missing keys), with a readable message and, for unknown keys, a did-you-mean hint.
 */
import type {ErrorObject} from 'ajv';
import type {Diagnostic, DiagnosticReason} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {didYouMeanHint} from './did-you-mean.js';
import type {DataPath, PipelineLocator} from './pipeline-document.js';

/** How errors of one validation are phrased and placed. */
export interface SchemaErrorContext {
  readonly locator: PipelineLocator;
  /** Where the validated value sits in the pipeline data (`[]` for the pipeline, `['nodes', n, 'with']` for params). */
  readonly basePath: DataPath;
  /** Phrases a member name: `key "x"` for the pipeline, `param "x" of trainExpert` for params. */
  readonly member: (name: string) => string;
  /** Names a value at a relative path in messages. */
  readonly describe: (path: DataPath) => string;
  /** The reason to report for a value error at a relative path. */
  readonly reasonFor: (path: DataPath, keyword: string) => DiagnosticReason;
  /** An extra hint for a value at a relative path (e.g. where a `${...}` value came from). */
  readonly hintFor?: (path: DataPath) => string | undefined;
}

/** Decodes an ajv instance path (a JSON pointer) into segments. */
export function pointerSegments(pointer: string): string[] {
  if (pointer === '') return [];
  return pointer
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** A short rendering of a value for messages. */
export function showValue(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a map';
  if (typeof value === 'number') return Number.isInteger(value) ? `the integer ${value}` : `the number ${value}`;
  return `${typeof value} ${showValue(value)}`;
}

function article(type: string): string {
  const names: Record<string, string> = {object: 'a map', array: 'a list', integer: 'an integer', number: 'a number',
    string: 'a string', boolean: 'a boolean', null: 'null'};
  return type
    .split(',')
    .map((t) => names[t] ?? t)
    .join(' or ');
}

function valueAt(root: unknown, path: DataPath): unknown {
  let value = root;
  for (const seg of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = Object.hasOwn(value, seg) ? (value as Record<string | number, unknown>)[seg] : undefined;
  }
  return value;
}

/** Maps each ajv error (from validating `data`) to a diagnostic. */
export function schemaDiagnostics(errors: readonly ErrorObject[], data: unknown, ctx: SchemaErrorContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const e of errors) {
    // propertyNames reports the failing inner keyword too (tagged with propertyName); the outer error suffices.
    if (e.propertyName !== undefined) continue;
    const rel = pointerSegments(e.instancePath);
    const abs = [...ctx.basePath, ...rel];
    const value = valueAt(data, rel);
    const extraHint = ctx.hintFor?.(rel);
    switch (e.keyword) {
      case 'additionalProperties': {
        const name = String((e.params as {additionalProperty: string}).additionalProperty);
        const allowed = Object.keys((e.parentSchema as {properties?: object} | undefined)?.properties ?? {});
        out.push(
          errorAt(
            'unknown-key',
            ctx.locator.key([...abs, name]),
            `unknown ${ctx.member(name)}${rel.length > 0 ? ` in ${ctx.describe(rel)}` : ''}`,
            didYouMeanHint(name, allowed) ?? (allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : undefined),
          ),
        );
        break;
      }
      case 'required': {
        const name = String((e.params as {missingProperty: string}).missingProperty);
        out.push(
          errorAt(
            'missing-key',
            abs.length === 0 ? ctx.locator.value([]) : ctx.locator.key(abs),
            `missing required ${ctx.member(name)}${rel.length > 0 ? ` in ${ctx.describe(rel)}` : ''}`,
          ),
        );
        break;
      }
      case 'propertyNames': {
        const name = String((e.params as {propertyName: string}).propertyName);
        out.push(
          errorAt(
            'invalid-name',
            ctx.locator.key([...abs, name]),
            `invalid name "${name}" in ${ctx.describe(rel)}`,
            'names start with a letter and contain only letters, digits, "_" and "-"',
          ),
        );
        break;
      }
      case 'type':
        out.push(
          errorAt(
            ctx.reasonFor(rel, e.keyword),
            ctx.locator.value(abs),
            `${ctx.describe(rel)} must be ${article(String((e.params as {type: string | string[]}).type))}, got ${typeOf(value)}`,
            extraHint,
          ),
        );
        break;
      case 'minimum':
      case 'maximum':
      case 'exclusiveMinimum':
      case 'exclusiveMaximum': {
        const {comparison, limit} = e.params as {comparison: string; limit: number};
        out.push(
          errorAt(ctx.reasonFor(rel, e.keyword), ctx.locator.value(abs), `${ctx.describe(rel)} must be ${comparison} ${limit}, got ${showValue(value)}`, extraHint),
        );
        break;
      }
      case 'enum': {
        const allowed = (e.params as {allowedValues: unknown[]}).allowedValues;
        const hint = typeof value === 'string' ? didYouMeanHint(value, allowed.filter((a) => typeof a === 'string')) : undefined;
        out.push(
          errorAt(
            ctx.reasonFor(rel, e.keyword),
            ctx.locator.value(abs),
            `${ctx.describe(rel)} must be one of ${allowed.map(showValue).join(', ')}, got ${showValue(value)}`,
            hint ?? extraHint,
          ),
        );
        break;
      }
      default:
        out.push(errorAt(ctx.reasonFor(rel, e.keyword), ctx.locator.value(abs), `${ctx.describe(rel)} ${e.message ?? 'is invalid'}`, extraHint));
    }
  }
  return out;
}

/** `nodes.expert.repeat`, `grid.alpha[0]`: a data path as users write it. */
export function dottedPath(path: DataPath): string {
  let text = '';
  for (const seg of path) {
    if (typeof seg === 'number' || /^\d+$/.test(seg)) text += `[${seg}]`;
    else text += text === '' ? seg : `.${seg}`;
  }
  return text === '' ? 'the pipeline' : text;
}
