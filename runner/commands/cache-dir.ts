/** Where the cache lives: `--cache-dir`, else `DISTILLERY_CACHE`, else `<cwd>/.distillery/cache`. */
import {resolve} from 'node:path';

/** Resolves the cache directory (relative paths against `cwd`). */
export function resolveCacheDir(flag: string | undefined, env: NodeJS.ProcessEnv, cwd: string): string {
  const chosen = flag ?? (env['DISTILLERY_CACHE'] === undefined || env['DISTILLERY_CACHE'] === '' ? undefined : env['DISTILLERY_CACHE']);
  return chosen === undefined ? resolve(cwd, '.distillery', 'cache') : resolve(cwd, chosen);
}
