/**
 * Whose fault an unexpected error is: the environment's (a full disk, a read-only or missing folder, too many open
 * files), which is reported as a message with exit code 2, or distillery's (a bug), which is an internal error. Only
 * errors that escaped every expected-failure path get here.
 */

/** Error codes that mean the machine, not the input or distillery, is at fault. */
const ENVIRONMENT_CODES: ReadonlySet<string> = new Set([
  'ENOSPC', 'EDQUOT', 'EROFS', 'EACCES', 'EPERM', 'EIO', 'EMFILE', 'ENFILE', 'ENOTDIR', 'EISDIR', 'ENOENT', 'ENAMETOOLONG',
  'ELOOP', 'EBUSY', 'EEXIST', 'EXDEV',
]);

/** An unexpected error, classified. */
export interface ClassifiedError {
  readonly kind: 'environment' | 'internal';
  readonly message: string;
  readonly stack?: string;
}

/** Classifies `error`; the message of an environment error is the system's own (it names the path and the code). */
export function classifyError(error: unknown): ClassifiedError {
  const e = error instanceof Error ? error : new Error(String(error));
  const code = (e as NodeJS.ErrnoException).code;
  const kind = code !== undefined && ENVIRONMENT_CODES.has(code) ? 'environment' : 'internal';
  return {kind, message: e.message, ...(e.stack === undefined ? {} : {stack: e.stack})};
}
