/**
 * Runs the CLI module named by the first argument with the rest as its arguments, and on exit writes to file
 * descriptor 3 how long the runner itself took: wall and CPU time from before the CLI's modules load to the exit,
 * leaving out Node's own start-up (which `node -e 0` measures). Used by the benches as
 * `node own-time.js <cli-main.js> run p.yaml` with a pipe on fd 3.
 */
import {writeSync} from 'node:fs';

const started = performance.now();
const cpu = process.cpuUsage();
process.on('exit', () => {
  const used = process.cpuUsage(cpu);
  const own = {wall: (performance.now() - started) / 1000, cpu: (used.user + used.system) / 1e6, sinceStart: performance.now() / 1000};
  writeSync(3, JSON.stringify(own) + '\n');
});
const cli = process.argv[2] ?? '';
process.argv.splice(2, 1);
await import(cli);
