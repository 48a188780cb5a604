/**
 * Ends an exhaustive `switch`: the compiler proves the call unreachable, and if a new union member slips through at
 * run time the error names it instead of silently doing nothing.
 */
export function unreachable(value: never): never {
  throw new Error(`Internal error: unexpected value ${JSON.stringify(value)}`);
}
