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
 *
 * The young generation also starts small and stays so for the CLI's first second. V8 doubles it whenever objects
 * survive, up to 16 MB per semi-space, and every page it grows into is a fresh page the kernel must fault in (about
 * 10 microseconds each on a virtual machine). A short command keeps most of what it allocates (a plan, manifests),
 * so the growth buys few collections and costs thousands of page faults. Held at its first size (a 1 MB semi-space),
 * a no-op run of 1,001 cached instances took about 15 ms less (192.0 against 207.9 ms and 194.1 against 206.4 ms,
 * medians of 11 alternating runs each way round) with about 1,250 fewer page faults, and planning 10,001 instances
 * in full about 26 ms less (711.6 against 751.1 ms, 714.0 against 740.4 ms). A command still running after a second
 * is not short: the young generation then grows as V8 would have it. Setting V8's growth factor at run time is
 * safe for the same reason as the budget: V8 reads it each time it would grow the young generation. A young
 * generation size or growth factor set in the node options wins.
 */
import {setFlagsFromString} from 'node:v8';

/** About seven times V8's default (67,584 bytes of bytecode in the V8 of Node 20). */
const INTERRUPT_BUDGET = 500_000;

/** V8's own factor by which the young generation grows (its `--semi-space-growth-factor` default). */
const V8_GROWTH_FACTOR = 2;

/** How long a command may run with a young generation held at its first size. */
const SHORT_COMMAND_MS = 1000;

/** The V8 options given to this process, with V8's `_` spelling of option names read as `-`. */
const given = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].map((option) => option.replaceAll('_', '-'));
const isGiven = (...names: string[]): boolean => given.some((option) => names.some((name) => option.startsWith(name)));

if (!isGiven('--interrupt-budget')) setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
if (!isGiven('--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size')) {
  setFlagsFromString('--semi-space-growth-factor=1');
  setTimeout(() => setFlagsFromString(`--semi-space-growth-factor=${V8_GROWTH_FACTOR}`), SHORT_COMMAND_MS).unref();
}
