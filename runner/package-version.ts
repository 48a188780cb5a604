/** The version of an installed package as Node would find it from a given module. */
import {existsSync, readFileSync} from 'node:fs';
import {join} from 'node:path';

/**
 * The version of package `name`, from the package.json of the first `node_modules/<name>` on the lookup path of
 * `from` (a `require` made by `createRequire` for the module asking): the folder where Node finds the package.
 * Undefined when there is none, or when that folder has no readable package.json of that name.
 *
 * Read directly rather than through `require.resolve`, which also reads the package's `exports` and looks for its
 * main file: for the five packages a stored analysis names, that cost a cached run about 5 ms.
 */
export function packageVersion(name: string, from: NodeJS.Require): string | undefined {
  for (const dir of from.resolve.paths(name) ?? []) {
    const folder = join(dir, name);
    let text: string;
    try {
      text = readFileSync(join(folder, 'package.json'), 'utf8');
    } catch {
      // Node stops at the first folder of that name, with or without a package.json.
      if (existsSync(folder)) return undefined;
      continue;
    }
    try {
      const manifest = JSON.parse(text) as {name?: unknown; version?: unknown};
      return manifest.name === name && typeof manifest.version === 'string' ? manifest.version : undefined;
    } catch {
      return undefined;
    }
  }
  return undefined;
}
