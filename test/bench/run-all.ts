/**
 * Runs every benchmark module in turn (`npm run bench`). Each module exports `bench(report)`; add new ones here.
 */
import {bench as dataIo} from './data-io.bench.js';
import {bench as ml} from './ml.bench.js';
import {bench as mtt} from './mtt.bench.js';
import {bench as plan} from './plan.bench.js';
import {bench as run} from './run.bench.js';
import {bench as training} from './train.bench.js';

const benches: readonly ((report: (line: string) => void) => Promise<void>)[] = [dataIo, plan, run, training, ml, mtt];

for (const run of benches) {
  await run((line) => process.stdout.write(line + '\n'));
}
