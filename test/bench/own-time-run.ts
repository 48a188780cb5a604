/** Spawns a command under own-time.ts and collects its figures (see there), for the run and plan benches. */
import {spawn} from 'node:child_process';
import {fileURLToPath} from 'node:url';

const OWN_TIME = fileURLToPath(new URL('./own-time.js', import.meta.url));

/** One timed process. */
export interface Timed {
  /** Exit code. */
  readonly status: number | null;
  /** Wall seconds of the whole process, as the parent saw it. */
  readonly process: number;
  /** The runner's own wall and CPU seconds (without Node's start-up). */
  readonly wall: number;
  readonly cpu: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `node own-time.js <cli> ...args` in `cwd`. */
export function timed(cli: string, args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [OWN_TIME, cli, ...args], {cwd, env, stdio: ['ignore', 'pipe', 'pipe', 'pipe']});
    let stdout = '';
    let stderr = '';
    let own = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    (child.stdio[3] as NodeJS.ReadableStream).on('data', (d: Buffer) => (own += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => {
      const seconds = (performance.now() - t0) / 1000;
      const figures = own === '' ? {wall: NaN, cpu: NaN} : (JSON.parse(own) as {wall: number; cpu: number});
      resolve({status, process: seconds, wall: figures.wall, cpu: figures.cpu, stdout, stderr});
    });
  });
}

/** The wall and CPU seconds of `node -e 0`: what Node's start-up costs on this machine, for scale. */
export function nodeStartup(): Promise<{wall: number; cpu: number}> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, ['-e', 'process.on("exit", () => { const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1e6)); })'], {stdio: ['ignore', 'pipe', 'inherit']});
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve({wall: (performance.now() - t0) / 1000, cpu: Number(out)}));
  });
}

/** Median and best of some figures. */
export function spread(values: readonly number[]): {median: number; best: number} {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? (sorted[mid] ?? NaN) : ((sorted[mid - 1] ?? NaN) + (sorted[mid] ?? NaN)) / 2;
  return {median, best: sorted[0] ?? NaN};
}

/** `median 0.412 s (best 0.398)`. */
export function describe(values: readonly number[]): string {
  const {median, best} = spread(values);
  return `median ${median.toFixed(3)} s (best ${best.toFixed(3)})`;
}
