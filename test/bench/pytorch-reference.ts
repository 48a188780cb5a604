/**
 * Runs test/bench/pytorch/reference.py (the same measurements in PyTorch) when /usr/bin/python3 has torch, with
 * glibc told to keep freed memory for reuse: on these virtual machines that makes PyTorch several times faster
 * (fresh pages cost a fault each), so it is the fair, faster reference.
 */
import {execFileSync, spawnSync} from 'node:child_process';
import {existsSync} from 'node:fs';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';

const PYTHON = '/usr/bin/python3';

/** The script, found from the package root (this file runs from the sources and from dist/). */
function script(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'test', 'bench', 'pytorch', 'reference.py');
}

/** glibc settings under which PyTorch's CPU allocations are reused instead of returned to the kernel. */
export const REUSE_MEMORY_ENV = {
  MALLOC_MMAP_THRESHOLD_: '17179869184',
  MALLOC_TRIM_THRESHOLD_: '17179869184',
  MALLOC_TOP_PAD_: '1073741824',
};

/** One PyTorch figure. */
export interface ReferenceFigure {
  readonly name: string;
  /** images/s for training steps, seconds for MTT iterations. */
  readonly value: number;
  readonly threads: number;
  readonly torch: string;
  readonly peakRssMiB: number;
}

/** Why PyTorch cannot be measured here, or undefined when it can. */
export function referenceUnavailable(): string | undefined {
  const probe = spawnSync(PYTHON, ['-c', 'import torch'], {encoding: 'utf8'});
  if (probe.error !== undefined) return `${PYTHON} not found`;
  if (probe.status !== 0) return `${PYTHON} has no torch (apt-get install python3-torch)`;
  return undefined;
}

/** Runs the named measurements in one PyTorch process on `threads` threads. */
export function measureReference(threads: number, names: readonly string[]): ReferenceFigure[] {
  const out = execFileSync(PYTHON, [script(), String(threads), ...names], {
    env: {...process.env, ...REUSE_MEMORY_ENV},
    encoding: 'utf8',
    maxBuffer: 1 << 20,
  });
  return out
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as ReferenceFigure);
}
