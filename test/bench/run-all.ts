/**
 * Runs the benchmark modules in turn (`npm run bench`), or only those named on the command line
 * (`npm run bench -- ml mtt`). Each module exports `bench(report)`; add new ones here.
 */
import {bench as cluster} from './cluster.bench.js';
import {bench as dataIo} from './data-io.bench.js';
import {bench as ml} from './ml.bench.js';
import {bench as mtt} from './mtt.bench.js';
import {bench as plan} from './plan.bench.js';
import {bench as run} from './run.bench.js';
import {bench as training} from './train.bench.js';

type Bench = (report: (line: string) => void) => Promise<void>;

const benches: ReadonlyMap<string, Bench> = new Map([
  ['data-io', dataIo],
  ['plan', plan],
  ['run', run],
  ['cluster', cluster],
  ['train', training],
  ['ml', ml],
  ['mtt', mtt],
]);

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !benches.has(name));
if (unknown.length > 0) {
  process.stderr.write(`unknown bench ${unknown.join(', ')}; choose from ${[...benches.keys()].join(', ')}\n`);
  process.exit(2);
}
for (const [name, bench] of benches) {
  if (wanted.length > 0 && !wanted.includes(name)) continue;
  await bench((line) => process.stdout.write(line + '\n'));
}
