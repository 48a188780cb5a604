/**
 * `${params.NAME}` and `${grid.NAME}` references inside values.
 *
 * A string that is exactly one reference takes the referenced value with its type (`"${params.ipc}"` is the number
 * 10); references inside a longer string are interpolated as text (strings as they are, other values as canonical
 * JSON). Nothing else may appear inside `${...}`.
 */
import type {JsonValue} from '../nodes/api.js';
import {canonicalJson} from './canonical-json.js';
import {NAME_PATTERN} from './pipeline-schema.js';

/** A reference as written, e.g. `{scope: 'grid', name: 'alpha', text: '${grid.alpha}'}`. */
export interface Reference {
  readonly scope: 'params' | 'grid';
  readonly name: string;
  /** The reference exactly as it appears in the string. */
  readonly text: string;
}

/** A `${...}` whose content is not `params.NAME` or `grid.NAME`. */
export interface MalformedReference {
  readonly text: string;
}

const REFERENCE = /\$\{([^}]*)\}/g;
const EXACT = /^\$\{([^}]*)\}$/;
const NAME = new RegExp(NAME_PATTERN);

function classify(text: string, inner: string): Reference | MalformedReference {
  const dot = inner.indexOf('.');
  const scope = inner.slice(0, dot).trim();
  const name = inner.slice(dot + 1).trim();
  if (dot > 0 && (scope === 'params' || scope === 'grid') && NAME.test(name)) return {scope, name, text};
  return {text};
}

/** Every reference in a string, well-formed or not, in order. */
export function referencesIn(text: string): (Reference | MalformedReference)[] {
  const found: (Reference | MalformedReference)[] = [];
  for (const match of text.matchAll(REFERENCE)) found.push(classify(match[0], match[1] ?? ''));
  return found;
}

/** Whether a parsed reference is well-formed. */
export function isReference(ref: Reference | MalformedReference): ref is Reference {
  return 'scope' in ref;
}

/** A value with a path to each string inside it (for locating references). */
export interface StringAt {
  readonly path: readonly (string | number)[];
  readonly text: string;
}

/** Every string inside a JSON-like value, with its relative path. */
export function stringsIn(value: unknown, path: (string | number)[] = [], out: StringAt[] = []): StringAt[] {
  if (typeof value === 'string') out.push({path: [...path], text: value});
  else if (Array.isArray(value)) value.forEach((v, i) => stringsIn(v, [...path, i], out));
  else if (value !== null && typeof value === 'object') {
    for (const key of Object.keys(value)) stringsIn((value as Record<string, unknown>)[key], [...path, key], out);
  }
  return out;
}

function asText(value: JsonValue): string {
  if (typeof value === 'string') return value;
  const json = canonicalJson(value);
  return json.ok ? json.value : String(value);
}

/**
 * Substitutes every well-formed reference in `value` with `lookup(ref)`. The caller has already reported malformed
 * and undefined references; such text is left as written. Objects are rebuilt with own data properties only (a
 * `__proto__` key stays an ordinary key).
 */
export function substitute(value: unknown, lookup: (ref: Reference) => JsonValue | undefined): JsonValue {
  if (typeof value === 'string') {
    const exact = EXACT.exec(value);
    if (exact !== null) {
      const ref = classify(value, exact[1] ?? '');
      if (isReference(ref)) return lookup(ref) ?? value;
    }
    if (!value.includes('${')) return value;
    return value.replace(REFERENCE, (text, inner: string) => {
      const ref = classify(text, inner);
      const resolved = isReference(ref) ? lookup(ref) : undefined;
      return resolved === undefined ? text : asText(resolved);
    });
  }
  if (Array.isArray(value)) return value.map((v) => substitute(v, lookup));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.keys(value).map((k) => [k, substitute((value as Record<string, unknown>)[k], lookup)]));
  }
  return value as JsonValue;
}
