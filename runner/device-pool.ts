/**
 * The device pool: GPU ids and CPU slots that bound how many node instances run at once.
 *
 * GPUs are handed out by id (not counted), so each gpu node's worker sees exactly one card through
 * `CUDA_VISIBLE_DEVICES`; a pool that only counts lets every job grab the same GPU.
 */
import {availableParallelism} from 'node:os';
import type {Device, Resources} from '../nodes/api.js';

/** Parses `nvidia-smi -L` output (`GPU 0: NVIDIA H100 (UUID: GPU-…)` per line) into GPU ids. */
export function parseNvidiaSmi(output: string): string[] {
  const ids: string[] = [];
  for (const line of output.split('\n')) {
    const match = /^GPU (\d+):/.exec(line.trim());
    if (match?.[1] !== undefined) ids.push(match[1]);
  }
  return ids;
}

/** Asks `nvidia-smi -L` for the GPUs; a missing binary or a failure means none. */
export async function detectGpus(): Promise<string[]> {
  // Loaded here: a cached run never asks, and node:child_process costs milliseconds to load.
  const {execFile} = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('nvidia-smi', ['-L'], {timeout: 10_000}, (error, stdout) => {
      resolve(error === null ? parseNvidiaSmi(stdout) : []);
    });
  });
}

/** Where the pool's GPUs come from, first match wins. */
export interface DevicePoolOptions {
  /** `--gpus 0,1`. */
  readonly gpus?: readonly string[];
  /** The plan's `devices: {gpus}`. */
  readonly planGpus?: readonly string[];
  /** `--jobs N`: CPU slots (default: the core count). */
  readonly jobs?: number;
  /** Detection (injected by tests); default runs `nvidia-smi -L`. */
  readonly detect?: () => Promise<string[]>;
}

/** One granted device; give it back with `release()`. */
export interface Lease {
  readonly device: Device;
  /** True when the node asked for a GPU but runs on a CPU slot. */
  readonly gpuOnCpu: boolean;
  release(): void;
}

/** A FIFO of waiters for slots. */
export class DevicePool {
  readonly cpuSlots: number;
  #gpus: readonly string[] | undefined;
  /** Detection not started yet (a deferred pool), or under way. */
  #detect: (() => Promise<string[]>) | undefined;
  #detecting: Promise<void> | undefined;
  #freeGpus: string[];
  readonly #freeCpus: number[];
  readonly #waiters: Array<() => boolean> = [];

  private constructor(gpus: readonly string[] | (() => Promise<string[]>), cpuSlots: number) {
    this.cpuSlots = cpuSlots;
    if (typeof gpus === 'function') {
      this.#detect = gpus;
      this.#freeGpus = [];
    } else {
      this.#gpus = gpus;
      this.#freeGpus = [...gpus];
    }
    this.#freeCpus = Array.from({length: cpuSlots}, (_, i) => i);
  }

  /** Builds a pool: GPU ids from the options, else the plan, else `nvidia-smi`; CPU slots from `jobs`. */
  static async create(options: DevicePoolOptions = {}): Promise<DevicePool> {
    const gpus = options.gpus ?? options.planGpus ?? (await (options.detect ?? detectGpus)());
    return new DevicePool(gpus, Math.max(1, options.jobs ?? availableParallelism()));
  }

  /**
   * Like `create`, but GPUs are detected only when an instance first asks for one: a run of CPU nodes, or one whose
   * instances are all cached, never starts `nvidia-smi`.
   */
  static deferred(options: DevicePoolOptions = {}): DevicePool {
    const jobs = Math.max(1, options.jobs ?? availableParallelism());
    const known = options.gpus ?? options.planGpus;
    return new DevicePool(known ?? options.detect ?? detectGpus, jobs);
  }

  /** Builds a pool without detection (CPU slots only unless ids are given). */
  static fixed(gpus: readonly string[], cpuSlots: number): DevicePool {
    return new DevicePool(gpus, Math.max(1, cpuSlots));
  }

  /** The GPU ids (empty until a deferred pool has detected them). */
  get gpus(): readonly string[] {
    return this.#gpus ?? [];
  }

  /** True when a `gpu: 1` node would have to run on a CPU slot. */
  get gpuless(): boolean {
    return this.gpus.length === 0;
  }

  /** Waits for a device fitting `resources` (a GPU id for gpu nodes when there are GPUs, else a CPU slot). */
  async acquire(resources: Resources, signal?: AbortSignal): Promise<Lease> {
    const wantsGpu = (resources.gpu ?? 0) > 0;
    if (wantsGpu && this.#gpus === undefined) await this.#detectOnce();
    const useGpu = wantsGpu && this.gpus.length > 0;
    return new Promise((resolve, reject) => {
      const tryTake = (): boolean => {
        if (useGpu) {
          const id = this.#freeGpus.shift();
          if (id === undefined) return false;
          resolve(this.#lease({kind: 'gpu', id}, false, () => this.#freeGpus.push(id)));
          return true;
        }
        this.#freeCpus.sort((a, b) => a - b);
        const slot = this.#freeCpus.shift();
        if (slot === undefined) return false;
        resolve(this.#lease({kind: 'cpu', id: String(slot)}, wantsGpu, () => this.#freeCpus.push(slot)));
        return true;
      };
      if (signal?.aborted === true) {
        reject(signal.reason);
        return;
      }
      if (this.#waiters.length === 0 && tryTake()) return;
      const waiter = (): boolean => {
        if (signal?.aborted === true) {
          reject(signal.reason);
          return true;
        }
        return tryTake();
      };
      this.#waiters.push(waiter);
      signal?.addEventListener('abort', () => this.#drain(), {once: true});
    });
  }

  /** Detects the GPUs of a deferred pool once; every GPU request waits for the same detection. */
  #detectOnce(): Promise<void> {
    this.#detecting ??= (this.#detect ?? detectGpus)().then((ids) => {
      this.#gpus = ids;
      this.#freeGpus = [...ids];
      this.#detect = undefined;
    });
    return this.#detecting;
  }

  #lease(device: Device, gpuOnCpu: boolean, giveBack: () => void): Lease {
    let released = false;
    return {
      device,
      gpuOnCpu,
      release: () => {
        if (released) return;
        released = true;
        giveBack();
        this.#drain();
      },
    };
  }

  /** Serves waiters in order; a GPU waiter that cannot be served does not block CPU waiters behind it. */
  #drain(): void {
    for (let i = 0; i < this.#waiters.length; ) {
      const waiter = this.#waiters[i];
      if (waiter !== undefined && waiter()) this.#waiters.splice(i, 1);
      else i++;
    }
  }
}
