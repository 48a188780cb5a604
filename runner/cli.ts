/**
 * `distillery` entry: dispatches to sub-commands, each loaded on demand.
 */
import type {Command, CommandIO} from './commands/command.js';
import {EXIT} from './commands/command.js';
import {CacheFolderError} from '../cache/cache-marker.js';
import {classifyError} from './error-kind.js';

/** Sub-command name -> module loader. */
const COMMANDS: Readonly<Record<string, () => Promise<{default: Command}>>> = {
  run: () => import('./commands/run.js'),
  plan: () => import('./commands/plan.js'),
  validate: () => import('./commands/validate.js'),
  graph: () => import('./commands/graph.js'),
  results: () => import('./commands/results.js'),
  runs: () => import('./commands/runs.js'),
  diff: () => import('./commands/diff.js'),
  cache: () => import('./commands/cache.js'),
  export: () => import('./commands/export.js'),
  push: () => import('./commands/push.js'),
  pull: () => import('./commands/pull.js'),
  remote: () => import('./commands/remote.js'),
  worker: () => import('./commands/worker.js'),
  schema: () => import('./commands/schema.js'),
};

async function usage(): Promise<string> {
  const lines = ['Usage: distillery <command> [options]', '', 'Commands:'];
  for (const [name, load] of Object.entries(COMMANDS)) {
    const summary = await load().then((m) => m.default.summary, () => '(unavailable)');
    lines.push(`  ${name.padEnd(10)} ${summary}`);
  }
  lines.push('', 'Run `distillery <command> --help` for the options of one command.');
  return lines.join('\n') + '\n';
}

/** Runs the CLI with `argv` (without node and script) and resolves to the exit code. */
export async function main(argv: readonly string[], io: CommandIO): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(await usage());
    return name === undefined ? EXIT.badInput : EXIT.ok;
  }
  if (name === '--version' || name === '-v') {
    const {distilleryVersion} = await import('./distillery-version.js');
    io.stdout.write(`${distilleryVersion()}\n`);
    return EXIT.ok;
  }
  const load = COMMANDS[name];
  if (load === undefined) {
    const {didYouMeanHint} = await import('./did-you-mean.js');
    const hint = didYouMeanHint(name, Object.keys(COMMANDS));
    io.stderr.write(`distillery: unknown command '${name}'${hint === undefined ? '' : `; ${hint}`}\n\n${await usage()}`);
    return EXIT.badInput;
  }
  const command = (await load()).default;
  if (rest.includes('--help') || rest.includes('-h')) {
    io.stdout.write(command.help.endsWith('\n') ? command.help : command.help + '\n');
    return EXIT.ok;
  }
  try {
    return await command.run(rest, io);
  } catch (error) {
    return reportUnexpected(name, error, io);
  }
}

/**
 * The last line of defence: an error no command turned into a message. A cache folder refused for safety, or an
 * environment problem (a full disk, a read-only folder), is a message and exit code 2; anything else is a bug, said
 * as such, with the stack only on request (`run` has already written it to its run record).
 */
export function reportUnexpected(name: string, error: unknown, io: Pick<CommandIO, 'stderr' | 'env'>): number {
  if (error instanceof CacheFolderError) {
    io.stderr.write(`distillery ${name}: error: ${error.problem.message}\n  hint: ${error.problem.hint}\n`);
    return EXIT.badInput;
  }
  const e = classifyError(error);
  if (e.kind === 'environment') {
    io.stderr.write(`distillery ${name}: error: ${e.message}\n`);
    return EXIT.badInput;
  }
  const debug = io.env['DISTILLERY_DEBUG'] !== undefined && io.env['DISTILLERY_DEBUG'] !== '' && io.env['DISTILLERY_DEBUG'] !== '0';
  io.stderr.write(
    `distillery ${name}: internal error: ${e.message}\n` +
      (debug && e.stack !== undefined ? `${e.stack}\n` : '  this is a bug in distillery; DISTILLERY_DEBUG=1 shows where it happened\n'),
  );
  return EXIT.internal;
}
