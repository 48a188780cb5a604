/** Whether to colour a stream: only a terminal, and never when NO_COLOR is set (https://no-color.org) or TERM=dumb. */
import type {CommandIO} from './command.js';

/** True when ANSI colours may be written to `stream`. */
export function useColor(stream: {isTTY?: boolean}, env: CommandIO['env']): boolean {
  if (env['NO_COLOR'] !== undefined && env['NO_COLOR'] !== '') return false;
  if (env['TERM'] === 'dumb') return false;
  return stream.isTTY === true;
}
