#!/usr/bin/env node
// Builds dist/vendor/tfjs-core-gradients.cjs: tfjs-core's own gradient registrations as one CommonJS file.
//
// Why: tfjs-core registers no gradients by itself; the umbrella @tensorflow/tfjs bundle does, but it also loads layers,
// converter, data and webgl (about 220 MB installed, and 3x the import time of tfjs-core in every worker). tfjs-core
// ships the registrations only as extension-less ES module sources (dist/register_all_gradients.js), which Node cannot
// import directly, so they are bundled here at install time, from the installed tfjs-core, exactly as the umbrella
// package does in its own build. The engine and the registries are process globals, so the bundled copy registers into
// the same registry that @tensorflow/tfjs-core uses.
import {build} from 'esbuild';
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(join(root, 'package.json'));
const core = dirname(require.resolve('@tensorflow/tfjs-core/package.json'));

await build({
  entryPoints: [join(core, 'dist', 'register_all_gradients.js')],
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  outfile: join(root, 'dist', 'vendor', 'tfjs-core-gradients.cjs'),
  logLevel: 'warning',
  legalComments: 'inline',
});
