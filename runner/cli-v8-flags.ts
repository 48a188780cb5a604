/**
 * V8 settings for the CLI process, applied when this module is evaluated: cli-main.ts imports it first, so every
 * other module of the CLI is compiled under them. Library use (runner/library.ts) is not affected.
 *
 * The CLI is short-lived, and most of its functions run a few thousand times at most. V8 then spends more on
 * optimizing them (TurboFan, on compile threads that compete with the main thread on a small machine) than the
 * optimized code gives back. A larger interrupt budget lets a function run longer before V8 considers optimizing it;
 * hot code that runs for long is still optimized, a little later. Measured on a 2-core machine in alternating runs:
 * a no-op run of 1,001 cached instances takes about 14 ms less (208.2 against 222.3 ms, medians of 15), and
 * analyzing a plan of 10,001 instances in full 0.729 and 0.696 s against 0.755 and 0.762 s (`npm run bench -- plan`,
 * two alternating pairs).
 *
 * The budget is a plain number V8 reads whenever it gives a function its budget, so changing it at run time is safe
 * (unlike flags that choose how the garbage collector works: setting one of those here crashed V8 in a trial).
 * A budget set in the node options (`--interrupt-budget` in NODE_OPTIONS or on node's command line) wins.
 */
import {setFlagsFromString} from 'node:v8';

/** About seven times V8's default (67,584 bytes of bytecode in the V8 of Node 20). */
const INTERRUPT_BUDGET = 500_000;

const given = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)];
if (!given.some((option) => option.startsWith('--interrupt-budget'))) setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
