/**
 * Canonical JSON: one byte-exact text per value, so equal values always hash to equal keys.
 *
 * Object keys are sorted (code-unit order), `undefined` object members are dropped (as JSON.stringify does), -0 becomes
 * 0, and integers are written in full (1e21 becomes 1000000000000000000000) so two spellings of one number never give
 * two keys. NaN and infinities have no JSON form and are rejected rather than silently turned into `null`.
 */
import type {Result} from './result.js';
import {fail, ok} from './result.js';

/** Why a value has no canonical JSON form, and where inside it (a path of keys and indices). */
export interface CanonicalJsonError {
  readonly path: readonly (string | number)[];
  readonly reason: 'not-finite' | 'unsupported-type' | 'undefined-in-array';
}

function numberText(n: number): string | undefined {
  if (!Number.isFinite(n)) return undefined;
  if (Object.is(n, -0)) return '0';
  // Integers beyond 1e21 would print in exponent form; BigInt prints every digit of the (exact) double.
  if (Number.isInteger(n) && Math.abs(n) >= 1e21) return BigInt(n).toString();
  return JSON.stringify(n);
}

function write(value: unknown, path: (string | number)[], out: string[]): CanonicalJsonError | undefined {
  switch (typeof value) {
    case 'string':
      out.push(JSON.stringify(value));
      return undefined;
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return undefined;
    case 'number': {
      const text = numberText(value);
      if (text === undefined) return {path: [...path], reason: 'not-finite'};
      out.push(text);
      return undefined;
    }
    case 'object': {
      if (value === null) {
        out.push('null');
        return undefined;
      }
      if (Array.isArray(value)) {
        out.push('[');
        for (let i = 0; i < value.length; i++) {
          if (i > 0) out.push(',');
          const item: unknown = value[i];
          if (item === undefined) return {path: [...path, i], reason: 'undefined-in-array'};
          path.push(i);
          const error = write(item, path, out);
          path.pop();
          if (error !== undefined) return error;
        }
        out.push(']');
        return undefined;
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return {path: [...path], reason: 'unsupported-type'};
      const record = value as Record<string, unknown>;
      // Object.keys sees an own `__proto__` key (as YAML creates it) like any other key, and never the prototype.
      const keys = Object.keys(record)
        .filter((k) => record[k] !== undefined)
        .sort();
      out.push('{');
      let first = true;
      for (const key of keys) {
        if (!first) out.push(',');
        first = false;
        out.push(JSON.stringify(key), ':');
        path.push(key);
        const error = write(record[key], path, out);
        path.pop();
        if (error !== undefined) return error;
      }
      out.push('}');
      return undefined;
    }
    default:
      return {path: [...path], reason: 'unsupported-type'};
  }
}

/**
 * The same text as `write`, built as one string without tracking the path (planning a big grid writes tens of
 * thousands of keys, ids and seeds); undefined when the value has no canonical form, and `write` then says why.
 */
function text(value: unknown): string | undefined {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      return numberText(value);
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) {
        let out = '[';
        for (let i = 0; i < value.length; i++) {
          const item: unknown = value[i];
          if (item === undefined) return undefined;
          const inner = text(item);
          if (inner === undefined) return undefined;
          out += i > 0 ? ',' + inner : inner;
        }
        return out + ']';
      }
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return undefined;
      const record = value as Record<string, unknown>;
      const keys = Object.keys(record);
      if (keys.length > 1) keys.sort();
      let out = '{';
      let first = true;
      for (const key of keys) {
        const member = record[key];
        if (member === undefined) continue;
        const inner = text(member);
        if (inner === undefined) return undefined;
        out += (first ? '' : ',') + JSON.stringify(key) + ':' + inner;
        first = false;
      }
      return out + '}';
    }
    default:
      return undefined;
  }
}

/** The canonical JSON text of `value`, or where and why it has none. */
export function canonicalJson(value: unknown): Result<string, CanonicalJsonError> {
  const fast = text(value);
  if (fast !== undefined) return ok(fast);
  const out: string[] = [];
  const error = write(value, [], out);
  return error === undefined ? ok(out.join('')) : fail(error);
}
