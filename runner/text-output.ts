/**
 * Where the CLI writes text: the standard streams, or a test's collector. A command only ever writes whole strings,
 * so this is all it may rely on.
 */
import {fstatSync, writeSync} from 'node:fs';

/** A place to write text to. */
export interface TextOutput {
  write(text: string): unknown;
  readonly isTTY?: boolean;
  /** A terminal's width, when it is one. */
  readonly columns?: number;
}

/**
 * A standard stream that is a pipe or a file, written with synchronous writes to its file descriptor.
 *
 * For a pipe, Node's `process.stdout` is a socket stream, and setting one up costs a cached run of 1,000 instances
 * about 6 ms (alternating runs, both ways round); Node writes pipes and files synchronously on Linux anyway, so what
 * is written, and in which order, is the same. A reader that went away (EPIPE: `distillery runs | head -1`) ends the
 * output quietly. Anything else (EAGAIN from a non-blocking pipe whose reader is slow, a full disk) hands the rest
 * of the output to the stream itself, which waits for the reader or reports the error as before.
 */
export class FdOutput implements TextOutput {
  readonly isTTY = false;
  readonly #fd: number;
  readonly #stream: () => NodeJS.WriteStream;
  #fallback: NodeJS.WriteStream | undefined;
  #closed = false;

  constructor(fd: number, stream: () => NodeJS.WriteStream) {
    this.#fd = fd;
    this.#stream = stream;
  }

  write(text: string): boolean {
    if (this.#closed) return true;
    if (this.#fallback !== undefined) return this.#fallback.write(text);
    const bytes = Buffer.from(text, 'utf8');
    let offset = 0;
    while (offset < bytes.length) {
      try {
        offset += writeSync(this.#fd, bytes, offset, bytes.length - offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'EPIPE') {
          this.#closed = true;
          return true;
        }
        this.#fallback = this.#stream();
        return this.#fallback.write(bytes.subarray(offset));
      }
    }
    return true;
  }
}

/**
 * The output for standard stream `fd`: an FdOutput for a pipe or a regular file, else the stream `stream()` gives
 * (a terminal, a socket, anything else), which is only created when needed.
 */
export function standardOutput(fd: 1 | 2, stream: () => NodeJS.WriteStream): TextOutput {
  let info;
  try {
    info = fstatSync(fd);
  } catch {
    return stream();
  }
  return info.isFIFO() || info.isFile() ? new FdOutput(fd, stream) : stream();
}
