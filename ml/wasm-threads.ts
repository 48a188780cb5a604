/**
 * Multi-threaded wasm in Node.
 *
 * `@tensorflow/tfjs-backend-wasm` ships a threaded SIMD build (XNNPACK on a pthread pool), but turns it off under Node
 * (`WASM_HAS_MULTITHREAD_SUPPORT` is false there) because its loader hands the pthread workers Blob URLs, which
 * Node's worker_threads cannot load. The Emscripten code inside does support Node workers; only the two script
 * locations are browser-shaped. So, for the duration of `tf.setBackend('wasm')`, this:
 * - writes the package's own pthread worker script to a temporary file, prefixed so that inside each worker the
 *   main-script Blob resolves to the package's threaded glue file, and makes `URL.createObjectURL` return that file;
 * - reports 2 x the wanted thread count as the logical core count, because the wasm backend sizes its pool as
 *   min(requested, logical cores / 2) (it assumes two hyper-threads per core; here each vCPU is one core).
 * Both are undone as soon as the backend is up. No library does this, hence by hand; the tfjs version is pinned by the
 * lock file and test/wasm-threads.test.ts checks that the pool really starts and computes the same numbers as one
 * thread.
 *
 * XNNPACK splits its convolutions and matrix products by output tiles, so the result does not depend on the thread
 * count (the test checks this bit for bit), and the thread count is not part of node keys.
 *
 * The pool's worker threads would keep Node's event loop alive forever (a finished script would never exit), so they
 * are unref'd once started, as the glue itself does with idle workers; spare workers are stopped.
 */
import * as tf from '@tensorflow/tfjs-core';
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs';
import {createRequire} from 'node:module';
import os from 'node:os';
import path from 'node:path';

const require = createRequire(import.meta.url);

/** The parts of the wasm package this needs. */
interface WasmPackage {
  setThreadsCount(n: number): void;
}

/**
 * Runs `start` (which must call `tf.setBackend('wasm')`) with the threaded build enabled for `threads` threads, and
 * puts the patched globals back whatever happens. The caller falls back to one thread when this fails.
 */
export async function withWasmThreads<T>(wasm: WasmPackage, threads: number, start: () => Promise<T>): Promise<T> {
  const root = path.dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const glue = path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.js');
  const {wasmWorkerContents} = require(path.join(root, 'wasm-out', 'tfjs-backend-wasm-threaded-simd.worker.js')) as {
    wasmWorkerContents: string;
  };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'distillery-wasm-'));
  const workerFile = path.join(dir, 'pthread-worker.cjs');
  // The package stores the worker with its "\n" escapes unescaped (it re-escapes them before making its Blob).
  const prelude = `URL.createObjectURL=()=>${JSON.stringify(glue)};URL.revokeObjectURL=()=>{};\n`;
  writeFileSync(workerFile, prelude + wasmWorkerContents.replace(/\n/g, '\\n'));

  const createObjectURL = URL.createObjectURL;
  const cpus = os.cpus;
  const core = cpus()[0];
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  wasm.setThreadsCount(threads);
  URL.createObjectURL = () => workerFile;
  // The glue reads the core count through require('os'), the same object as this module's default import.
  os.cpus = () => (core === undefined ? cpus() : Array.from({length: 2 * threads}, () => core));
  try {
    const result = await start();
    settlePoolThreads();
    return result;
  } finally {
    URL.createObjectURL = createObjectURL;
    os.cpus = cpus;
    // The workers have read the file once the backend is up (the glue waits for every worker to load).
    rmSync(dir, {recursive: true, force: true});
  }
}

/** The Emscripten pthread bookkeeping of the wasm module, as far as this file uses it. */
interface PThreads {
  readonly runningWorkers: ReadonlyArray<{unref(): void}>;
  readonly unusedWorkers: Array<{terminate(): unknown}>;
}

/**
 * Lets the process exit with the pool's threads still waiting for work, and stops the spare workers the glue starts
 * ahead of need (8, each a V8 isolate: about 150 MB per process). XNNPACK's pool starts all its threads at start-up,
 * so no later pthread needs them.
 */
function settlePoolThreads(): void {
  const backend = tf.findBackend('wasm') as {wasm?: {PThread?: PThreads}} | null;
  const threads = backend?.wasm?.PThread;
  if (threads === undefined) return;
  for (const worker of threads.runningWorkers) worker.unref();
  for (const worker of threads.unusedWorkers.splice(0)) void worker.terminate();
}

/** Undoes `withWasmThreads`'s settings so that a retry initialises the single-threaded build. */
export function disableWasmThreads(wasm: WasmPackage): void {
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', false);
  wasm.setThreadsCount(1);
}

/** The thread count of the running wasm backend (1 when it is single-threaded or not initialised). */
export async function activeWasmThreads(): Promise<number> {
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  return Math.max(1, wasm.getThreadsCount());
}
