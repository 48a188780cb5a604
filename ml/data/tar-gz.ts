/**
 * Reads chosen regular files out of a `.tar.gz`, streaming, into memory.
 *
 * Hand-written on purpose: the well-kept npm tar readers (`tar`, `tar-stream`) bring several dependencies and are built
 * to extract to disk or to drive node streams, while a data loader only needs "give me these few members as bytes".
 * The ustar layout needed for that is small: 512-byte headers, octal sizes, data padded to 512 bytes, plus GNU long
 * names (`L`) and pax `path` records (`x`) so that long member names still match. Decompression is fflate's streaming
 * gunzip, so the whole archive is never held in memory twice (CIFAR-10's is 163 MB compressed, 178 MB inside).
 */
import {createReadStream} from 'node:fs';
import {Gunzip} from 'fflate';

const BLOCK = 512;

/** One member read from the archive. */
export interface TarMember {
  readonly name: string;
  readonly data: Uint8Array;
}

/** Why an archive could not be read. Thrown as a plain Error with this text; callers wrap it in their own failure. */
export class TarFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarFormatError';
  }
}

/**
 * Streams the archive at `path` and returns the regular files for which `want(name)` is true, in archive order.
 * Directories, links and unwanted members are skipped without being kept.
 */
export async function readTarGz(path: string, want: (name: string) => boolean): Promise<TarMember[]> {
  const parser = new TarParser(want);
  const gunzip = new Gunzip((chunk) => parser.push(chunk));
  for await (const chunk of createReadStream(path, {highWaterMark: 1 << 20})) {
    gunzip.push(chunk as Buffer);
  }
  gunzip.push(new Uint8Array(0), true);
  return parser.finish();
}

/** Reads the members of an in-memory (already gunzipped) tar, given whole or as chunks split anywhere. */
export function readTar(bytes: Uint8Array | Iterable<Uint8Array>, want: (name: string) => boolean): TarMember[] {
  const parser = new TarParser(want);
  for (const chunk of bytes instanceof Uint8Array ? [bytes] : bytes) parser.push(chunk);
  return parser.finish();
}

/** The state machine over 512-byte blocks; chunks may split headers and data anywhere. */
class TarParser {
  readonly #want: (name: string) => boolean;
  readonly #members: TarMember[] = [];
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** What the next `#need` bytes are. */
  #state: 'header' | 'data' = 'header';
  #need = BLOCK;
  #current: {name: string; size: number; keep: boolean; kind: 'file' | 'longname' | 'pax' | 'skip'} | undefined;
  #longName: string | undefined;
  #ended = false;

  constructor(want: (name: string) => boolean) {
    this.#want = want;
  }

  push(chunk: Uint8Array): void {
    if (this.#ended || chunk.length === 0) return;
    this.#pending.push(chunk);
    this.#pendingBytes += chunk.length;
    while (!this.#ended && this.#pendingBytes >= this.#need) {
      const block = this.#take(this.#need);
      if (this.#state === 'header') this.#onHeader(block);
      else this.#onData(block);
    }
  }

  finish(): TarMember[] {
    if (!this.#ended && this.#state === 'data') {
      throw new TarFormatError(`archive ends inside member ${this.#current?.name ?? '?'}`);
    }
    return this.#members;
  }

  #take(count: number): Uint8Array {
    const out = new Uint8Array(count);
    let filled = 0;
    while (filled < count) {
      const head = this.#pending[0];
      if (head === undefined) throw new Error('Internal error: tar parser ran out of buffered bytes');
      const n = Math.min(head.length, count - filled);
      out.set(head.subarray(0, n), filled);
      filled += n;
      if (n === head.length) this.#pending.shift();
      else this.#pending[0] = head.subarray(n);
    }
    this.#pendingBytes -= count;
    return out;
  }

  #onHeader(block: Uint8Array): void {
    if (block.every((b) => b === 0)) {
      // The archive ends with two zero blocks; one is enough to stop, trailing padding is ignored.
      this.#ended = true;
      return;
    }
    checkChecksum(block);
    const size = parseSize(block.subarray(124, 136));
    const type = String.fromCharCode(block[156] ?? 0);
    const ustar = ascii(block.subarray(257, 262)) === 'ustar';
    const prefix = ustar ? cString(block.subarray(345, 500)) : '';
    const baseName = cString(block.subarray(0, 100));
    const name = this.#longName ?? (prefix ? `${prefix}/${baseName}` : baseName);
    this.#longName = undefined;
    const kind = type === '0' || type === '\0' || type === '7' ? 'file' : type === 'L' ? 'longname' : type === 'x' ? 'pax' : 'skip';
    const keep = kind === 'file' && this.#want(name);
    this.#current = {name, size, keep, kind};
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (padded === 0) {
      if (keep) this.#members.push({name, data: new Uint8Array(0)});
      return;
    }
    this.#state = 'data';
    this.#need = padded;
  }

  #onData(block: Uint8Array): void {
    const current = this.#current;
    if (current === undefined) throw new Error('Internal error: tar data without a header');
    const data = block.subarray(0, current.size);
    if (current.kind === 'longname') this.#longName = cString(data);
    else if (current.kind === 'pax') this.#longName = paxPath(data) ?? this.#longName;
    else if (current.keep) this.#members.push({name: current.name, data: data.slice()});
    this.#state = 'header';
    this.#need = BLOCK;
  }
}

function ascii(bytes: Uint8Array): string {
  return String.fromCharCode(...bytes);
}

/** A NUL-terminated string field. */
function cString(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** Sizes are octal ASCII, or base-256 big-endian when the top bit of the first byte is set (GNU, files >= 8 GiB). */
function parseSize(field: Uint8Array): number {
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const text = cString(field).trim();
  const value = text === '' ? 0 : Number.parseInt(text, 8);
  if (!Number.isFinite(value) || value < 0) throw new TarFormatError(`bad member size field "${text}"`);
  return value;
}

/** The header checksum (sum of all bytes with the checksum field read as spaces) catches a file that is not a tar. */
function checkChecksum(block: Uint8Array): void {
  const stored = Number.parseInt(cString(block.subarray(148, 156)).trim(), 8);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (block[i] ?? 0);
  if (stored !== sum) throw new TarFormatError('bad tar header checksum (not a tar archive, or a corrupt one)');
}

/** The `path` record of a pax extended header ("<len> path=<value>\n" records). */
function paxPath(data: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(data);
  for (const line of text.split('\n')) {
    const match = /^\d+ path=(.*)$/.exec(line);
    if (match?.[1] !== undefined) return match[1];
  }
  return undefined;
}

/**
 * Builds a tar archive (ustar, regular files only) in memory. Used by tests to write fixtures in the real format and by
 * users who want to pack a folder of data-set files; names must fit the 100-byte ustar name field.
 */
export function writeTar(members: readonly TarMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const encoder = new TextEncoder();
  for (const member of members) {
    const header = new Uint8Array(BLOCK);
    const name = encoder.encode(member.name);
    if (name.length > 100) throw new RangeError(`tar member name longer than 100 bytes: ${member.name}`);
    header.set(name, 0);
    header.set(encoder.encode('0000644\0'), 100);
    header.set(encoder.encode('0000000\0'), 108);
    header.set(encoder.encode('0000000\0'), 116);
    header.set(encoder.encode(member.data.length.toString(8).padStart(11, '0') + '\0'), 124);
    header.set(encoder.encode('00000000000\0'), 136);
    header[156] = '0'.charCodeAt(0);
    header.set(encoder.encode('ustar\0' + '00'), 257);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : (header[i] ?? 0);
    header.set(encoder.encode(sum.toString(8).padStart(6, '0') + '\0 '), 148);
    parts.push(header, member.data);
    const pad = (BLOCK - (member.data.length % BLOCK)) % BLOCK;
    if (pad > 0) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}
