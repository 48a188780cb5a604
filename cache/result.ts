/**
 * Expected failures are values, not exceptions: every fallible step of the front-end returns one of these. It lives in
 * cache/, the room every other room may import, so the cache's own parsers (remote URLs) can return it too;
 * runner/result.ts re-exports it.
 */

/** The outcome of an operation that can fail in an expected way. */
export type Result<T, E> = {ok: true; value: T} | {ok: false; error: E};

/** Wraps a success. */
export function ok<T>(value: T): {ok: true; value: T} {
  return {ok: true, value};
}

/** Wraps a failure. */
export function fail<E>(error: E): {ok: false; error: E} {
  return {ok: false, error};
}
