/**
 * Per-process tfjs backend set-up. Every ML entry point awaits `initBackend()` before touching tfjs.
 *
 * The choice follows ml/backend-probe.ts (so the backend that goes into node keys is the one that runs, unless it
 * fails to load), and a backend that cannot load falls back to the next one in preference order with a recorded
 * reason. The native packages (@tensorflow/tfjs-node[-gpu]) are optional dependencies, so they are imported
 * dynamically: a plain install without them must still work.
 */
import * as tf from '@tensorflow/tfjs';
import {createRequire} from 'node:module';
import path from 'node:path';
import {BACKEND_KINDS, BACKEND_PACKAGES, probeBackend} from './backend-probe.js';
import type {BackendKind} from './backend-probe.js';
import {installGradientFixes} from './grad-fixes.js';
import {installWasmKernels} from './wasm-kernels/index.js';

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
}

/** The tfjs backend name (tf.setBackend) of each kind. Both native packages register 'tensorflow'. */
const TFJS_NAMES: Readonly<Record<BackendKind, string>> = {
  'tensorflow-gpu': 'tensorflow',
  tensorflow: 'tensorflow',
  wasm: 'wasm',
  cpu: 'cpu',
};

const require = createRequire(import.meta.url);

let wasmRegistered: Promise<void> | undefined;

/** Imports the wasm backend once and points it at the .wasm files shipped in its package (a file path, for Node). */
function registerWasm(): Promise<void> {
  wasmRegistered ??= (async () => {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    const dist = path.join(path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(dist + path.sep);
  })();
  return wasmRegistered;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Makes `kind` the active backend, with the gradient fixes (all backends) and the wasm kernels (wasm) installed.
 * Returns undefined on success, else why it could not.
 */
export async function activateBackend(kind: BackendKind): Promise<string | undefined> {
  // Library code never prints: production mode silences tfjs's console notices (e.g. the cpu backend's hint).
  tf.enableProdMode();
  installGradientFixes();
  switch (kind) {
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
    case 'wasm':
      try {
        await registerWasm();
      } catch (e) {
        return `cannot load ${BACKEND_PACKAGES.wasm}: ${message(e)}`;
      }
      break;
    case 'cpu':
      break;
    default: {
      const never: never = kind;
      throw new Error(`Internal error: unknown backend ${String(never)}`);
    }
  }
  const name = TFJS_NAMES[kind];
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
    await tf.ready();
  } catch (e) {
    return `tf.setBackend('${name}') failed: ${message(e)}`;
  }
  if (!ok || tf.getBackend() !== name) return `tf.setBackend('${name}') could not initialise the backend`;
  if (kind === 'wasm') installWasmKernels();
  return undefined;
}

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
      const reason = await activateBackend(kind);
      if (reason === undefined) return {kind, tfjsVersion: probe.tfjsVersion, fallbacks};
      fallbacks.push({kind, reason});
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
