/** The package version, recorded as the producer of cache entries. */
import {readFileSync} from 'node:fs';

let version: string | undefined;

/** Reads `version` from the package's package.json (found from both the sources and the compiled `dist/runner/`). */
export function distilleryVersion(): string {
  if (version !== undefined) return version;
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as {name?: string; version?: string};
      if (pkg.name === 'distillery' && typeof pkg.version === 'string') return (version = pkg.version);
    } catch {
      // Try the next level up.
    }
  }
  return (version = '0.0.0');
}
