/**
 * Per-process tfjs backend set-up. Every ML entry point awaits `initBackend()` before touching tfjs.
 *
 * The choice follows ml/backend-probe.ts (so the backend that goes into node keys is the one that runs, unless it
 * fails to load), and a backend that cannot load falls back to the next one in preference order with a recorded
 * reason. The tfjs-node packages (@tensorflow/tfjs-node[-gpu]) are not dependencies (a user may install one), so they
 * are imported dynamically: a plain install without them must still work.
 */
import * as tf from '@tensorflow/tfjs-core';
// Registers the pure-JS 'cpu' backend (the last fallback, and the reference in the kernel tests).
import '@tensorflow/tfjs-backend-cpu';
import {createRequire} from 'node:module';
import path from 'node:path';
import {BACKEND_KINDS, BACKEND_PACKAGES, probeBackend, torchThreadCount, wasmThreadCount} from './backend-probe.js';
import type {BackendKind} from './backend-probe.js';
import {registerCoreGradients} from './core-gradients.js';
import {installFastGradients} from './fast-grads.js';
import {installGradientFixes} from './grad-fixes.js';
import {installNormGradients} from './fused-norm.js';
import {installLeanBackprop} from './lean-backprop.js';
import {startTorch} from './libtorch/start.js';
import {installWasmKernels} from './wasm-kernels/index.js';
import {activeWasmThreads, disableWasmThreads, withWasmThreads} from './wasm-threads.js';

/** A backend that was tried and skipped, and why. */
export interface BackendFallback {
  readonly kind: BackendKind;
  readonly reason: string;
}

/** What `initBackend` set up. */
export interface BackendInfo {
  /** The backend that is active. */
  readonly kind: BackendKind;
  readonly tfjsVersion: string;
  /** Backends tried before `kind`, in order, with the reason each was skipped (empty when the first choice worked). */
  readonly fallbacks: readonly BackendFallback[];
  /** Threads of the wasm backend's pool (wasm only). */
  readonly wasmThreads?: number;
  /** Why the wasm backend runs on fewer threads than asked for, when it does. */
  readonly wasmThreadsNote?: string;
  /** libtorch only: its version and build flavour, intra-op threads, and the device tensors live on. */
  readonly libtorch?: {readonly version: string; readonly threads: number; readonly device: string};
}

/** The tfjs backend name (tf.setBackend) of each kind. Both native packages register 'tensorflow'. */
const TFJS_NAMES: Readonly<Record<BackendKind, string>> = {
  libtorch: 'libtorch',
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const require = createRequire(import.meta.url);

type WasmPackage = typeof import('@tensorflow/tfjs-backend-wasm');

let wasmRegistered: Promise<WasmPackage> | undefined;

/** Imports the wasm backend once and points it at the .wasm files shipped in its package (a file path, for Node). */
function registerWasm(): Promise<WasmPackage> {
  wasmRegistered ??= (async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(dist + path.sep);
    return wasm;
  })();
  return wasmRegistered;
}

/** Why the last first-time wasm start ran on fewer threads than asked for (see BackendInfo.wasmThreadsNote). */
let wasmThreadsNote: string | undefined;

/** `tf.setBackend(name)`, with failures as a reason string (undefined when the backend is active). */
async function setBackend(name: string): Promise<string | undefined> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    return `tf.setBackend('${name}') failed: ${message(e)}`;
  }
  if (!ok || tf.getBackend() !== name) return `tf.setBackend('${name}') could not initialise the backend`;
  return undefined;
}

/**
 * Starts the wasm backend: the first time in a process on `wasmThreadCount(env)` threads (falling back to one thread,
 * with a note, when the threaded build fails to start), later times the same instance again.
 */
async function startWasm(wasm: WasmPackage, env: NodeJS.ProcessEnv): Promise<string | undefined> {
  if (tf.findBackend('wasm') !== null) return setBackend('wasm');
  const threads = wasmThreadCount(env);
  if (threads === 1) return setBackend('wasm');
  let reason: string | undefined;
  try {
    reason = await withWasmThreads(wasm, threads, () => setBackend('wasm'));
  } catch (e) {
    // E.g. a tfjs-backend-wasm whose files moved: withWasmThreads failed before starting the backend.
    reason = message(e);
  }
  if (reason === undefined) {
    const got = await activeWasmThreads();
    wasmThreadsNote = got < threads ? `asked for ${threads} threads, the pool has ${got}` : undefined;
    return undefined;
  }
  disableWasmThreads(wasm);
  wasmThreadsNote = `the threaded build did not start (${reason}); running on one thread`;
  return setBackend('wasm');
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Makes `kind` the active backend, with the gradient fixes (all backends) and the wasm kernels (wasm) installed.
 * Returns undefined on success, else why it could not.
 */
export async function activateBackend(kind: BackendKind, env: NodeJS.ProcessEnv = process.env): Promise<string | undefined> {
  // Library code never prints: production mode silences tfjs's console notices (e.g. the cpu backend's hint).
  tf.enableProdMode();
  registerCoreGradients();
  installGradientFixes();
  installFastGradients();
  installNormGradients();
  installLeanBackprop();
  switch (kind) {
    case 'libtorch': {
      try {
        torchStart = startTorch(torchThreadCount(env), env);
      } catch (e) {
        return `cannot load the libtorch addon: ${message(e)}`;
      }
      break;
    }
    case 'tensorflow-gpu':
    case 'tensorflow': {
      // A variable specifier keeps the type checker from requiring the optional packages.
      const spec: string = BACKEND_PACKAGES[kind];
      try {
        await import(spec);
      } catch (e) {
        return `cannot load ${spec}: ${message(e)}`;
      }
      break;
    }
    case 'wasm': {
      let wasm: WasmPackage;
      try {
        wasm = await registerWasm();
      } catch (e) {
        return `cannot load ${BACKEND_PACKAGES.wasm}: ${message(e)}`;
      }
      const reason = await startWasm(wasm, env);
      if (reason !== undefined) return reason;
      installWasmKernels();
      return undefined;
    }
    case 'cpu':
      break;
    default: {
      const never: never = kind;
      throw new Error(`Internal error: unknown backend ${String(never)}`);
    }
  }
  return setBackend(TFJS_NAMES[kind]);
}

/** The last libtorch start in this process (for BackendInfo). */
let torchStart: ReturnType<typeof startTorch> | undefined;

let initialised: Promise<BackendInfo> | undefined;

/**
 * Picks and activates this process's backend once: `DISTILLERY_BACKEND` if set, else the first installed one in
 * the order tensorflow-gpu, tensorflow, wasm, cpu; a backend that fails to load falls back to the next.
 * Later calls return the first call's result (a process has one backend).
 */
export function initBackend(env: NodeJS.ProcessEnv = process.env): Promise<BackendInfo> {
  initialised ??= (async () => {
    const probe = probeBackend(env);
    const fallbacks: BackendFallback[] = [];
    for (const kind of BACKEND_KINDS.slice(BACKEND_KINDS.indexOf(probe.kind))) {
      const reason = await activateBackend(kind, env);
      if (reason !== undefined) {
        fallbacks.push({kind, reason});
        continue;
      }
      if (kind === 'libtorch' && torchStart !== undefined) {
        const libtorch = {version: probe.libtorch ?? torchStart.native.torchVersion, threads: torchStart.threads, device: torchStart.device};
        return {kind, tfjsVersion: probe.tfjsVersion, fallbacks, libtorch};
      }
      if (kind !== 'wasm') return {kind, tfjsVersion: probe.tfjsVersion, fallbacks};
      const wasmThreads = await activeWasmThreads();
      return {kind, tfjsVersion: probe.tfjsVersion, fallbacks, wasmThreads, ...(wasmThreadsNote === undefined ? {} : {wasmThreadsNote})};
    }
    throw new Error(`no tfjs backend could be initialised: ${fallbacks.map((f) => `${f.kind}: ${f.reason}`).join('; ')}`);
  })();
  return initialised;
}

/**
 * The backend a cached node must run on: the one its key was computed with (the probe's choice, which the planner
 * made in the same environment). A fallback would store results computed elsewhere under that key, so it is an error
 * that names the backend that does work.
 */
export async function initPlannedBackend(env: NodeJS.ProcessEnv = process.env): Promise<BackendInfo> {
  const info = await initBackend(env);
  const first = info.fallbacks[0];
  if (first !== undefined) {
    throw new Error(
      `the ${first.kind} backend was planned (it is installed) but failed to load: ${first.reason}; ` +
        `set DISTILLERY_BACKEND=${info.kind} to plan and run on ${info.kind}`,
    );
  }
  return info;
}
