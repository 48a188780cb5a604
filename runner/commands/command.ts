/** The shape of one CLI sub-command, so the dispatcher can load each lazily (a cached run must start fast). */
import type {TextOutput} from '../text-output.js';

/** Where a command reads and writes: injected so tests can capture output and library code never uses `console`. */
export interface CommandIO {
  readonly stdout: TextOutput;
  readonly stderr: TextOutput;
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
}

/** A sub-command module's exports. */
export interface Command {
  /** One line for `distillery --help`. */
  readonly summary: string;
  /** Full `--help` text. */
  readonly help: string;
  /** Runs with the arguments after the command name; resolves to the process exit code (0, 1, 2 or 130). */
  run(args: readonly string[], io: CommandIO): Promise<number>;
}

/** Exit codes: `internal` (EX_SOFTWARE of sysexits.h) only for a bug in distillery. */
export const EXIT = {ok: 0, nodeFailed: 1, badInput: 2, internal: 70, interrupted: 130} as const;
