/** Process entry for the CLI: wires the real streams and sets the exit code. */
// First, so that every other module is compiled under the CLI's V8 settings.
import './cli-v8-flags.js';
import {main, reportUnexpected} from './cli.js';
import {standardOutput} from './text-output.js';

const name = process.argv[2] ?? '';

/**
 * A standard stream, made (and guarded) only when it is used: a pipe or a file is written through its descriptor
 * (see text-output.ts). A reader that went away (`distillery cache ls | head -1`) is no error: the rest of the output
 * is dropped, and the command finishes its work (a run still writes its record).
 */
function guarded(get: () => NodeJS.WriteStream): () => NodeJS.WriteStream {
  let stream: NodeJS.WriteStream | undefined;
  return () => {
    if (stream === undefined) {
      stream = get();
      stream.on('error', (error: NodeJS.ErrnoException) => {
        if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') last(error);
      });
    }
    return stream;
  };
}

const io = {
  stdout: standardOutput(1, guarded(() => process.stdout)),
  stderr: standardOutput(2, guarded(() => process.stderr)),
  cwd: process.cwd(),
  env: process.env,
};

// An error thrown outside any awaited chain (an event handler, a stream) still ends as a message, never a stack.
function last(error: unknown): void {
  process.exitCode = reportUnexpected(name, error, io);
  process.exit();
}
process.on('uncaughtException', last);
process.on('unhandledRejection', last);

try {
  process.exitCode = await main(process.argv.slice(2), io);
} catch (error) {
  process.exitCode = reportUnexpected(name, error, io);
}
// A command that has finished does not wait for connections that cannot close (the clients of a Redis server that
// went away keep retrying): everything it had to do is done.
setTimeout(() => process.exit(), 5_000).unref();
