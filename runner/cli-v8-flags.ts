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
 * The young generation also keeps its first size (a 1 MB semi-space). V8 doubles it whenever objects survive, up to
 * 16 MB per semi-space, and every page it grows into is a fresh page the kernel must fault in (about 10 microseconds
 * each on a virtual machine). A short command keeps most of what it allocates (a plan, manifests), so the growth buys
 * few collections and costs thousands of page faults. Held at its first size, a no-op run of 1,001 cached instances
 * took about 15 ms less (192.0 against 207.9 ms and 194.1 against 206.4 ms, medians of 11 alternating runs each way
 * round) with about 1,250 fewer page faults, and planning 10,001 instances in full about 26 ms less (711.6 against
 * 751.1 ms, 714.0 against 740.4 ms). It stays held for the whole command: the coordinating process of a run that
 * computes 1,001 instances used the same CPU time with it as without (medians of about 6.0 s, eight alternating
 * pairs both ways round), while giving V8 its own growth factor back at run time made V8 collect the old generation
 * every 40 ms until the end (95 full collections instead of 2). Setting the factor once, before the heap has grown,
 * is safe for the same reason as the budget: V8 reads it each time it would grow the young generation. A young
 * generation size or growth factor set in the node options wins.
 */
import {setFlagsFromString} from 'node:v8';

/** About seven times V8's default (67,584 bytes of bytecode in the V8 of Node 20). */
const INTERRUPT_BUDGET = 500_000;

/** The V8 options given to this process, with V8's `_` spelling of option names read as `-`. */
const given = [...process.execArgv, ...(process.env['NODE_OPTIONS'] ?? '').split(/\s+/)].map((option) => option.replaceAll('_', '-'));
const isGiven = (...names: string[]): boolean => given.some((option) => names.some((name) => option.startsWith(name)));

if (!isGiven('--interrupt-budget')) setFlagsFromString(`--interrupt-budget=${INTERRUPT_BUDGET}`);
if (!isGiven('--semi-space-growth-factor', '--max-semi-space-size', '--min-semi-space-size')) {
  // Set once and never given back: changing it again at run time sent V8 into a loop of full collections.
  setFlagsFromString('--semi-space-growth-factor=1');
}
