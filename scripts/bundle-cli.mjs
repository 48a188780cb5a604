#!/usr/bin/env node
// Builds dist/cli-core.js: the compiled modules that a cached `distillery run` loads, as one ES module, and turns each
// of those modules' own files in dist/ into a one-line re-export of it. Runs after tsc (`npm run build`).
//
// Why: Node resolves, reads and links every ES module on its own, about 0.4 ms each on a small machine, and a cached
// run of 1,000 instances loads 65 of ours: about 30 ms of a 0.2 s command. One file removes most of that.
//
// Why the re-exports: a module must exist once per process. Code outside the bundle (other commands, the full
// analysis, workers, library use) imports the same modules by their dist paths; if those files still held their own
// code, a process could hold two `LocalStore` classes and two error classes that `instanceof` tells apart. As
// re-exports of the bundle, every path leads to the one copy in dist/cli-core.js.
//
// Written by hand because no bundler does this: esbuild's code splitting keeps one copy of each module but cuts the
// cached run's modules into dozens of chunks (about 6 ms saved, not 30). The heavy lifting (parsing, export lists,
// scope hoisting) is esbuild's.
import {build} from 'esbuild';
import {readFileSync, rmSync, writeFileSync} from 'node:fs';
import {dirname, join, relative, sep} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dist = join(root, 'dist');
const bundleFile = join(dist, 'cli-core.js');

/** The first line of every re-export this script writes: how a second run without tsc before it is recognised. */
const STUB_MARK = '// Re-export written by scripts/bundle-cli.mjs:';

/**
 * What a cached `run` loads besides the process entry: the CLI dispatcher, the run command and the modules it imports
 * lazily on that path (see preloadRunModules in runner/commands/run.ts); and the `plan` command, which reads the same
 * stored analysis. Their static imports are bundled with them.
 * runner/cli-main.js (which runs the CLI) and runner/cli-v8-flags.js (which must act before the rest is evaluated)
 * stay outside.
 */
const ROOTS = [
  'runner/cli.js',
  'runner/text-output.js',
  'runner/commands/run.js',
  'runner/commands/plan.js',
  'runner/commands/analyze-or-report.js',
  'runner/analyze-pipeline.js',
  'runner/stored-analysis.js',
  'runner/executor.js',
  'runner/local-executor.js',
  'runner/store-lookup.js',
  'runner/run-record.js',
  'runner/run-description.js',
  'runner/duration-estimates.js',
  'runner/publish-reports.js',
  'runner/loggers/plain-logger.js',
  'runner/loggers/json-logger.js',
  'cache/local-store.js',
  'cache/empty-store.js',
];
const OUTSIDE = new Set(['runner/cli-main.js', 'runner/cli-v8-flags.js']);

/** A dist path as the forward-slash path relative to dist/ that this script uses as a module's name. */
const nameOf = (file) => relative(dist, file).split(sep).join('/');
/** The name of the module a relative import in an esbuild `onResolve` names. */
const importedName = (args) => nameOf(join(args.resolveDir, args.path));
/** What every build here shares: compiled ES modules for Node, and a metafile to read what went in. */
const COMMON = {format: 'esm', platform: 'node', metafile: true, logLevel: 'warning'};

for (const name of ROOTS) {
  if (readFileSync(join(dist, name), 'utf8').startsWith(STUB_MARK)) {
    throw new Error(`dist/${name} is already a re-export: compile with tsc before bundling (npm run build)`);
  }
}

// 1. The modules of the bundle: the roots and everything they import statically. Dynamic imports of other modules
// stay imports of their files.
const rootSet = new Set(ROOTS);
const probe = await build({
  ...COMMON,
  entryPoints: ROOTS.map((name) => join(dist, name)),
  bundle: true,
  write: false,
  outdir: join(dist, '.probe'),
  packages: 'external',
  plugins: [
    {
      name: 'lazy-stays-outside',
      setup(b) {
        b.onResolve({filter: /^\./}, (args) => {
          return args.kind === 'dynamic-import' && !rootSet.has(importedName(args)) ? {path: args.path, external: true} : undefined;
        });
      },
    },
  ],
});
const core = Object.keys(probe.metafile.inputs).map((input) => nameOf(join(root, input))).sort();
const misplaced = core.filter((name) => OUTSIDE.has(name) || name.startsWith('..'));
if (misplaced.length > 0) throw new Error(`these must stay outside the CLI bundle: ${misplaced.join(', ')}`);
const coreSet = new Set(core);

// 2. What each of them exports, so that the bundle can export it under a name of its own.
const listed = await build({
  ...COMMON,
  entryPoints: core.map((name) => join(dist, name)),
  bundle: false,
  write: false,
  outdir: join(dist, '.exports'),
  outbase: dist,
});
const exportsOf = new Map();
for (const output of Object.values(listed.metafile.outputs)) {
  if (output.entryPoint !== undefined) exportsOf.set(nameOf(join(root, output.entryPoint)), output.exports);
}
const alias = (index, exported) => `m${index}$${exported}`;

// 3. The bundle: every module's exports under `m<index>$<name>`; imports of modules outside it keep their paths.
const entry = core
  .map((name, index) => {
    const names = exportsOf.get(name) ?? [];
    return names.length === 0 ? `import './${name}';` : `export {${names.map((n) => `${n} as ${alias(index, n)}`).join(', ')}} from './${name}';`;
  })
  .join('\n');
const bundled = await build({
  ...COMMON,
  stdin: {contents: entry, resolveDir: dist, sourcefile: 'cli-core-entry.js', loader: 'js'},
  bundle: true,
  outfile: bundleFile,
  target: 'node20',
  packages: 'external',
  legalComments: 'none',
  // Mapped back through tsc's maps to the TypeScript sources (for `node --enable-source-maps`).
  sourcemap: 'linked',
  plugins: [
    {
      name: 'one-home-per-module',
      setup(b) {
        b.onResolve({filter: /^\./}, (args) => {
          const name = importedName(args);
          return coreSet.has(name) ? undefined : {path: `./${name}`, external: true};
        });
        // A module that finds files next to itself keeps finding them: its `import.meta.url` is its own file's URL.
        b.onLoad({filter: /\.js$/}, (args) => {
          const text = readFileSync(args.path, 'utf8');
          const contents = text.replaceAll('import.meta.url', `new URL(${JSON.stringify(`./${nameOf(args.path)}`)}, import.meta.url).href`);
          return {contents, loader: 'js', resolveDir: dirname(args.path)};
        });
      },
    },
  ],
});
const inBundle = Object.keys(bundled.metafile.inputs).filter((input) => !input.includes('cli-core-entry')).length;
if (inBundle !== core.length) throw new Error(`the bundle holds ${inBundle} modules, expected ${core.length}`);

// 4. Each bundled module's file becomes a re-export of its part of the bundle (its source map no longer applies).
core.forEach((name, index) => {
  const file = join(dist, name);
  const from = relative(dirname(file), bundleFile).split(sep).join('/');
  const names = exportsOf.get(name) ?? [];
  const specifier = from.startsWith('.') ? from : `./${from}`;
  const body = names.length === 0 ? `import '${specifier}';` : `export {${names.map((n) => `${alias(index, n)} as ${n}`).join(', ')}} from '${specifier}';`;
  writeFileSync(file, `${STUB_MARK} this module is bundled in dist/cli-core.js.\n${body}\n`);
  rmSync(`${file}.map`, {force: true});
});
process.stdout.write(`bundle-cli: ${core.length} modules in dist/cli-core.js (${Math.round(readFileSync(bundleFile).length / 1024)} KB)\n`);
