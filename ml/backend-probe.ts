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
import {nativeBuildStatus} from './libtorch/native-binding.js';

/** The backends in order of preference. */
export const BACKEND_KINDS = ['libtorch', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** What provides each backend: an npm package, or (libtorch) this package's own addon built by `npm install`. */
export const BACKEND_PACKAGES: Readonly<Record<BackendKind, string>> = {
  libtorch: 'the libtorch addon (native/)',
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** The outcome of a probe. */
export interface BackendProbe {
  readonly kind: BackendKind;
  readonly tfjsVersion: string;
  /** For libtorch: its version and build flavour, e.g. `1.13.0+cpu` (results differ between them). */
  readonly libtorch?: string;
  /** For libtorch: the intra-op thread count, which changes results in the last bits (so it is part of keys). */
  readonly threads?: number;
}

const require = createRequire(import.meta.url);

/** The native packages: usable only when their install script built or fetched the binding. */
const NATIVE: ReadonlySet<string> = new Set([BACKEND_PACKAGES['tensorflow-gpu'], BACKEND_PACKAGES.tensorflow]);

function installed(kind: BackendKind): boolean {
  if (kind === 'libtorch') return nativeBuildStatus().built;
  const pkg = BACKEND_PACKAGES[kind];
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
  const kind = forcedBackend(env) ?? BACKEND_KINDS.find((k) => installed(k)) ?? 'cpu';
  const pkg = JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8')) as {version: string};
  if (kind !== 'libtorch') return {kind, tfjsVersion: pkg.version};
  const status = nativeBuildStatus();
  const torch = status.libtorch;
  // The addon's source hash too: another build of the kernels may compute different bits.
  const flavour = `${torch?.version ?? 'unknown'}+${torch?.cuda === true ? 'cuda' : 'cpu'}`;
  return {
    kind,
    tfjsVersion: pkg.version,
    libtorch: status.sources === undefined ? flavour : `${flavour} addon ${status.sources}`,
    threads: torchThreadCount(env),
  };
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

/** The variable that sets libtorch's intra-op thread count (part of keys: see torchThreadCount). */
export const TORCH_THREADS_VARIABLE = 'DISTILLERY_TORCH_THREADS';

/**
 * libtorch's threads per node when `DISTILLERY_TORCH_THREADS` is unset. Unlike wasm, libtorch's reductions (oneDNN's
 * filter gradients among them) split work by thread count, so results differ in the last bits between counts: the
 * count goes into keys, and its default is a constant rather than the machine's core count, so that the same
 * pipeline has the same keys on every machine. One thread, because nodes are small and many (a grid, K experts,
 * seeds): a 2-thread node kept 2 cores only about 130 % busy in fmnist.yaml's trajectory matching (tfjs's per-op
 * bookkeeping is serial), while one node per core keeps every core busy. The runner then runs cores / threads nodes
 * at once; raise it for a pipeline of few large nodes.
 */
export const DEFAULT_TORCH_THREADS = 1;

/** Threads of the libtorch backend: `DISTILLERY_TORCH_THREADS` when set, else DEFAULT_TORCH_THREADS. Throws a plain message for a bad value. */
export function torchThreadCount(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[TORCH_THREADS_VARIABLE]?.trim();
  if (!raw) return DEFAULT_TORCH_THREADS;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) throw new Error(`${TORCH_THREADS_VARIABLE}=${raw} is not a positive integer`);
  return n;
}

/**
 * One line for a run's log: the backend its keys were planned with (from a node's key environment) and, when a
 * preferred backend is missing, why: "backend: wasm (libtorch is not built: no libtorch found: ...)".
 */
export function describeBackend(environment: Readonly<Record<string, string>>, env: NodeJS.ProcessEnv = process.env): string {
  const kind = environment['backend'] ?? 'unknown';
  if (kind === 'libtorch') {
    return `backend: libtorch ${environment['libtorch'] ?? ''}, ${environment['threads'] ?? '?'} thread(s) per node (${TORCH_THREADS_VARIABLE})`;
  }
  const forced = env['DISTILLERY_BACKEND']?.trim();
  if (forced) return `backend: ${kind} (DISTILLERY_BACKEND=${forced})`;
  const status = nativeBuildStatus();
  return status.built ? `backend: ${kind}` : `backend: ${kind} (libtorch is not built: ${status.reason ?? 'unknown reason'})`;
}
