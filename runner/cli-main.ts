/** Process entry for the CLI: wires the real streams and sets the exit code. */
// First, so that every other module is compiled under the CLI's V8 settings.
import './cli-v8-flags.js';
import {main, reportUnexpected} from './cli.js';

const io = {stdout: process.stdout, stderr: process.stderr, cwd: process.cwd(), env: process.env};
const name = process.argv[2] ?? '';

// An error thrown outside any awaited chain (an event handler, a stream) still ends as a message, never a stack.
const last = (error: unknown): void => {
  process.exitCode = reportUnexpected(name, error, io);
  process.exit();
};
process.on('uncaughtException', last);
process.on('unhandledRejection', last);
// A reader that went away (`distillery cache ls | head -1`) is no error: the rest of the output is dropped, and the
// command finishes its work (a run still writes its record).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') last(error);
  });
}

try {
  process.exitCode = await main(process.argv.slice(2), io);
} catch (error) {
  process.exitCode = reportUnexpected(name, error, io);
}
// A command that has finished does not wait for connections that cannot close (the clients of a Redis server that
// went away keep retrying): everything it had to do is done.
setTimeout(() => process.exit(), 5_000).unref();
