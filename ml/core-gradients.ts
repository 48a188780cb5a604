/**
 * Registers tfjs-core's built-in gradients (the umbrella `@tensorflow/tfjs` package would do it, but we depend on
 * tfjs-core and the backends alone; see scripts/bundle-gradients.mjs for why the registrations come as a bundle).
 */
import {existsSync} from 'node:fs';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const BUNDLE = join('dist', 'vendor', 'tfjs-core-gradients.cjs');

/** The package root: the nearest folder above this file with a package.json (same from sources and from dist/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('Internal error: distillery has no package.json above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
  return dir;
}

let loaded = false;

/** Loads the bundled registrations once per process. Throws a message that says how to build them when missing. */
export function registerCoreGradients(): void {
  if (loaded) return;
  const root = packageRoot();
  const file = join(root, BUNDLE);
  if (!existsSync(file)) {
    throw new Error(`tfjs-core's gradients are not built (${BUNDLE} is missing): run \`npm run build\` in ${root}`);
  }
  createRequire(join(root, 'package.json'))(file);
  loaded = true;
}
