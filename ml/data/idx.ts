/**
 * The IDX file format of (Fashion-)MNIST: a big-endian header (two zero bytes, a type code, the number of dimensions,
 * then one uint32 per dimension) followed by the values. Only unsigned bytes (type 0x08) occur in these data sets.
 *
 * Files may be gzipped (as published and as Debian installs them) or not; the gzip magic bytes decide, not the name.
 */
import {gunzipSync} from 'node:zlib';

/** A parsed IDX array of unsigned bytes. */
export interface IdxArray {
  readonly shape: readonly number[];
  readonly data: Uint8Array;
}

/** Why bytes are not a valid IDX array; the loader wraps it into a `data-corrupt` failure with the file name. */
export class IdxFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IdxFormatError';
  }
}

const UBYTE = 0x08;

/** Gunzips when the bytes start with the gzip magic number, else returns them as they are. */
export function maybeGunzip(bytes: Uint8Array): Uint8Array {
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      return new Uint8Array(gunzipSync(bytes));
    } catch (error) {
      throw new IdxFormatError(`gzip data is damaged (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  return bytes;
}

/** Parses an (already gunzipped) IDX file and checks that it holds unsigned bytes with `dims` dimensions. */
export function parseIdx(bytes: Uint8Array, dims: number): IdxArray {
  if (bytes.length < 4) throw new IdxFormatError(`only ${bytes.length} bytes, too short for an IDX header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, false);
  const expected = (UBYTE << 8) | dims;
  if (magic !== expected) {
    throw new IdxFormatError(
      `magic number 0x${magic.toString(16).padStart(8, '0')}, expected 0x${expected.toString(16).padStart(8, '0')} ` +
        `(unsigned bytes, ${dims} dimensions)`,
    );
  }
  const headerBytes = 4 + 4 * dims;
  if (bytes.length < headerBytes) throw new IdxFormatError(`header needs ${headerBytes} bytes, file has ${bytes.length}`);
  const shape = Array.from({length: dims}, (_, i) => view.getUint32(4 + 4 * i, false));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerBytes + count) {
    throw new IdxFormatError(
      `shape [${shape.join(', ')}] needs ${headerBytes + count} bytes, file has ${bytes.length}`,
    );
  }
  return {shape, data: bytes.subarray(headerBytes)};
}

/** Encodes unsigned bytes as an IDX file (tests write fixtures with it; handy for exporting subsets too). */
export function encodeIdx(shape: readonly number[], data: Uint8Array): Uint8Array {
  const count = shape.reduce((a, b) => a * b, 1);
  if (count !== data.length) throw new RangeError(`shape [${shape.join(', ')}] holds ${count} values, got ${data.length}`);
  const out = new Uint8Array(4 + 4 * shape.length + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, (UBYTE << 8) | shape.length, false);
  shape.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * shape.length);
  return out;
}
