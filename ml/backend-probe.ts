/**
 * Which tfjs backend a worker will pick, found without loading tfjs.
 *
 * The runner puts the backend kind and the tfjs version into every node key (they change results), and a cached
 * no-op run must not pay for loading tfjs, so this only resolves package files.
 */
import {createRequire} from 'node:module';
import {existsSync, readFileSync, readdirSync} from 'node:fs';
import {availableParallelism} from 'node:os';
import {dirname, join} from 'node:path';

/** The backends in order of preference. */
export const BACKEND_KINDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** The npm package that provides each backend. */
export const BACKEND_PACKAGES: Readonly<Record<BackendKind, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** The outcome of a probe. */
export interface BackendProbe {
  readonly kind: BackendKind;
  readonly tfjsVersion: string;
}

const require = createRequire(import.meta.url);

/** The native packages: usable only when their install script built or fetched the binding. */
const NATIVE: ReadonlySet<string> = new Set([BACKEND_PACKAGES['tensorflow-gpu'], BACKEND_PACKAGES.tensorflow]);

function installed(pkg: string): boolean {
  let manifest: string;
  try {
    manifest = require.resolve(`${pkg}/package.json`);
  } catch {
    return false;
  }
  if (!NATIVE.has(pkg)) return true;
  // An offline install leaves the package without `lib/napi-v*/tfjs_binding.node`; planning for it would key every
  // node on a backend that cannot load.
  const lib = join(dirname(manifest), 'lib');
  try {
    return readdirSync(lib).some((d) => d.startsWith('napi-v') && existsSync(join(lib, d, 'tfjs_binding.node')));
  } catch {
    return false;
  }
}

/** Parses `DISTILLERY_BACKEND`; undefined when unset or empty. Throws a plain message for an unknown name. */
export function forcedBackend(env: NodeJS.ProcessEnv = process.env): BackendKind | undefined {
  const raw = env['DISTILLERY_BACKEND']?.trim();
  if (!raw) return undefined;
  const kind = (BACKEND_KINDS as readonly string[]).includes(raw) ? (raw as BackendKind) : undefined;
  if (kind === undefined) {
    throw new Error(`DISTILLERY_BACKEND=${raw} is not one of ${BACKEND_KINDS.join(', ')}`);
  }
  return kind;
}

/** The backend a worker would choose here: the forced one, else the first whose package is installed. */
export function probeBackend(env: NodeJS.ProcessEnv = process.env): BackendProbe {
  const kind = forcedBackend(env) ?? BACKEND_KINDS.find((k) => installed(BACKEND_PACKAGES[k])) ?? 'cpu';
  const pkg = JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8')) as {version: string};
  return {kind, tfjsVersion: pkg.version};
}

/** The variable that sets the wasm backend's thread count (it does not change results, so it is not in keys). */
export const WASM_THREADS_VARIABLE = 'DISTILLERY_WASM_THREADS';

/**
 * Parses `DISTILLERY_WASM_THREADS`: a positive integer, or undefined when unset or empty. Throws a plain message for
 * anything else.
 */
export function forcedWasmThreads(env: NodeJS.ProcessEnv = process.env): number | undefined {
  const raw = env[WASM_THREADS_VARIABLE]?.trim();
  if (!raw) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${WASM_THREADS_VARIABLE}=${raw} is not a positive integer`);
  return n;
}

/** Threads the wasm backend uses: `DISTILLERY_WASM_THREADS` when set, else one per core. */
export function wasmThreadCount(env: NodeJS.ProcessEnv = process.env): number {
  return forcedWasmThreads(env) ?? availableParallelism();
}
