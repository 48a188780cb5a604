#!/usr/bin/env node
// Builds the libtorch backend's Node-API addon (native/) during `npm install`, when a libtorch and a C++ toolchain are
// present. Nothing here may fail the install: without them the addon is simply absent, the reason is recorded in
// native/build-config/status.json, and the backend probe (ml/backend-probe.ts) reports it and falls back to wasm.
//
// libtorch is looked for in this order:
//   1. DISTILLERY_LIBTORCH=<dir>: a libtorch folder with include/ and lib/ (the official zip, or a pip torch package);
//   2. Debian's libtorch-dev (headers under /usr/include/torch, libraries in the multiarch folder);
//   3. the torch package of `python3` (pip wheels ship include/ and lib/; CUDA builds make a CUDA backend).
// DISTILLERY_SKIP_NATIVE=1 skips the build.
import {spawnSync} from 'node:child_process';
import {createHash} from 'node:crypto';
import {existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const native = join(root, 'native');
const configDir = join(native, 'build-config');
mkdirSync(configDir, {recursive: true});

/**
 * A hash of the addon's sources (binding.gyp and src/): results computed by another build of the kernels may differ,
 * so it goes into cache keys beside the libtorch version (the TypeScript side of a node is hashed by the planner).
 */
function sourceHash() {
  const hash = createHash('sha256');
  const files = ['binding.gyp', ...readdirSync(join(native, 'src')).sort().map((f) => join('src', f))];
  for (const file of files) hash.update(file).update('\0').update(readFileSync(join(native, file))).update('\0');
  return hash.digest('hex').slice(0, 16);
}

function record(status) {
  writeFileSync(join(configDir, 'status.json'), JSON.stringify({...status, at: new Date().toISOString()}, null, 2) + '\n');
}

function skip(reason) {
  record({built: false, reason});
  console.log(`distillery: the libtorch backend was not built (${reason}); the wasm backend will be used.`);
  process.exit(0);
}

function run(cmd, args, options = {}) {
  return spawnSync(cmd, args, {encoding: 'utf8', ...options});
}

function versionFromHeader(includeDirs) {
  for (const dir of includeDirs) {
    const file = join(dir, 'torch', 'version.h');
    if (!existsSync(file)) continue;
    const text = readFileSync(file, 'utf8');
    const part = (name) => text.match(new RegExp(`#define\\s+TORCH_VERSION_${name}\\s+(\\d+)`))?.[1];
    const [major, minor, patch] = ['MAJOR', 'MINOR', 'PATCH'].map(part);
    if (major !== undefined) return `${major}.${minor}.${patch}`;
  }
  return 'unknown';
}

function fromFolder(dir, source) {
  const include = join(dir, 'include');
  const lib = join(dir, 'lib');
  if (!existsSync(join(include, 'ATen', 'ATen.h'))) return undefined;
  if (!existsSync(join(lib, 'libtorch.so')) && !existsSync(join(lib, 'libtorch_cpu.so'))) return undefined;
  return {source, includeDirs: [include, join(include, 'torch', 'csrc', 'api', 'include')], libDir: lib};
}

function findLibtorch() {
  const forced = process.env.DISTILLERY_LIBTORCH?.trim();
  if (forced) {
    const found = fromFolder(forced, `DISTILLERY_LIBTORCH=${forced}`);
    if (found === undefined) skip(`DISTILLERY_LIBTORCH=${forced} has no include/ATen/ATen.h and lib/libtorch.so`);
    return found;
  }
  const multiarch = run('gcc', ['-print-multiarch']).stdout?.trim() || 'x86_64-linux-gnu';
  const debLib = join('/usr/lib', multiarch);
  if (existsSync('/usr/include/ATen/ATen.h') && existsSync(join(debLib, 'libtorch.so'))) {
    return {source: 'libtorch-dev', includeDirs: ['/usr/include/torch/csrc/api/include'], libDir: debLib, abi: 1};
  }
  const py = run('python3', ['-c', 'import torch, os; print(os.path.dirname(torch.__file__)); print(int(torch._C._GLIBCXX_USE_CXX11_ABI))']);
  if (py.status === 0) {
    const [dir, abi] = py.stdout.trim().split('\n');
    const found = dir ? fromFolder(dir, `python3's torch (${dir})`) : undefined;
    if (found !== undefined) return {...found, abi: Number(abi)};
  }
  skip('no libtorch found: install Debian\'s libtorch-dev, or set DISTILLERY_LIBTORCH to a libtorch folder');
}

function nodeGyp() {
  const fromNpm = process.env.npm_config_node_gyp;
  if (fromNpm && existsSync(fromNpm)) return fromNpm;
  const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js');
  if (existsSync(bundled)) return bundled;
  return undefined;
}

if (process.env.DISTILLERY_SKIP_NATIVE === '1') skip('DISTILLERY_SKIP_NATIVE=1');
if (process.platform !== 'linux') skip(`the addon is built on Linux only, not on ${process.platform}`);

const torch = findLibtorch();
for (const tool of [['c++', '--version'], ['make', '--version'], ['python3', '--version']]) {
  if (run(tool[0], [tool[1]]).status !== 0) skip(`${tool[0]} is not installed (apt-get install g++ make python3)`);
}
const gyp = nodeGyp();
if (gyp === undefined) skip('node-gyp was not found (it comes with npm)');

const cuda = existsSync(join(torch.libDir, 'libtorch_cuda.so'));
const version = versionFromHeader(torch.includeDirs);
const libraries = [`-L${torch.libDir}`, `-Wl,-rpath,${torch.libDir}`, '-ltorch', '-ltorch_cpu', '-lc10'];
// The CUDA kernels register themselves when libtorch_cuda loads; --no-as-needed keeps the link that loads it.
if (cuda) libraries.push('-Wl,--no-as-needed', '-ltorch_cuda', '-lc10_cuda', '-Wl,--as-needed');
const defines = [`DISTILLERY_TORCH_VERSION="${version}"`];
if (torch.abi !== undefined) defines.push(`_GLIBCXX_USE_CXX11_ABI=${torch.abi}`);
const gypi = {variables: {torch_include_dirs: torch.includeDirs, torch_defines: defines, torch_libraries: libraries, torch_ldflags: []}};
writeFileSync(join(configDir, 'torch-paths.gypi'), JSON.stringify(gypi, null, 2) + '\n');

const args = [gyp, 'rebuild', '-j', 'max'];
if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node.h')) args.push('--nodedir=/usr');
console.log(`distillery: building the libtorch backend against ${torch.source} (libtorch ${version}${cuda ? ', CUDA' : ''})...`);
const started = Date.now();
const built = run(process.execPath, args, {cwd: native, env: {...process.env, JOBS: 'max'}});
writeFileSync(join(configDir, 'build.log'), `${built.stdout ?? ''}\n${built.stderr ?? ''}`);
if (built.status !== 0) {
  const tail = `${built.stdout ?? ''}\n${built.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  console.log(tail);
  skip(`the addon failed to compile (full log: native/build-config/build.log)`);
}
record({built: true, libtorch: {source: torch.source, version, cuda, libDir: torch.libDir}, sources: sourceHash(), seconds: (Date.now() - started) / 1000});
console.log(`distillery: libtorch backend built in ${((Date.now() - started) / 1000).toFixed(0)} s.`);
