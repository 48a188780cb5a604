/**
 * The safetensors format: parameters, expert trajectories and synthetic sets on disk, readable from Python
 * (`safetensors.numpy.load_file`) and from here.
 *
 * Layout (huggingface/safetensors): 8 bytes little-endian u64 `N`; `N` bytes of UTF-8 JSON mapping each tensor name to
 * `{"dtype","shape","data_offsets":[begin,end]}` plus an optional `"__metadata__"` string-to-string map, padded with
 * spaces to a multiple of 8; then the raw little-endian data, every byte covered by exactly one tensor, no holes.
 * The writer orders tensors as the reference implementation does (by dtype from widest, then by name) and writes
 * compact JSON with `__metadata__` first, so a file from here is byte-identical to one from the Python package (for
 * metadata with sorted keys), and the data of every tensor is aligned to its element size.
 */
import {randomBytes} from 'node:crypto';
import {open, rename, rm} from 'node:fs/promises';
import {basename, dirname, join} from 'node:path';
import {ELEMENT_SIZE, elementCount, elementTypeOf, fromElementBytes, toElementBytes} from './element-type.js';
import type {ElementType, TensorData} from './element-type.js';
import {TensorFileError} from './tensor-file-error.js';

/** The safetensors dtype names supported here. */
export type SafetensorsDtype = 'BOOL' | 'U8' | 'I8' | 'I16' | 'U16' | 'I32' | 'U32' | 'F32' | 'F64' | 'I64' | 'U64';

/**
 * Rank of each dtype in the reference implementation's `Dtype` enum (declared in increasing alignment order); the
 * writer sorts by it, descending. F16/BF16 (not supported here) sit between U16 and I32.
 */
const DTYPE_RANK: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 5,
  U16: 6,
  I32: 9,
  U32: 10,
  F32: 11,
  F64: 12,
  I64: 13,
  U64: 14,
};

const DTYPE_ELEMENT: Readonly<Record<SafetensorsDtype, ElementType>> = {
  BOOL: 'bool',
  U8: 'uint8',
  I8: 'int8',
  I16: 'int16',
  U16: 'uint16',
  I32: 'int32',
  U32: 'uint32',
  F32: 'float32',
  F64: 'float64',
  I64: 'int64',
  U64: 'uint64',
};

const ELEMENT_DTYPE = Object.fromEntries(
  Object.entries(DTYPE_ELEMENT).map(([dtype, element]) => [element, dtype]),
) as Record<ElementType, SafetensorsDtype>;

/** The reference reader refuses headers above 100 MB; so does this one, before allocating anything. */
const MAX_HEADER_BYTES = 100_000_000;

/**
 * A tensor to write. `dtype` defaults to the array's own type (Int32Array -> I32 ...); `data` may be a list of parts
 * that are written one after the other (e.g. the snapshots of a trajectory as one `[steps, params]` tensor), so big
 * tensors never need to be concatenated in memory.
 */
export interface TensorToWrite {
  readonly dtype?: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: TensorData | readonly TensorData[];
}

/** A tensor read back. */
export interface StoredTensor {
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

/** Named tensors, in any order (the file order is decided by the writer). */
export type TensorMap = Readonly<Record<string, TensorToWrite>> | ReadonlyMap<string, TensorToWrite>;

/** The parsed header of a file. */
export interface SafetensorsHeader {
  readonly metadata: Readonly<Record<string, string>>;
  /** Tensor infos in data order. */
  readonly tensors: readonly {readonly name: string; readonly dtype: SafetensorsDtype; readonly shape: readonly number[]; readonly begin: number; readonly end: number}[];
  /** Byte offset of the data section in the file (8 + N). */
  readonly dataStart: number;
}

/** One prepared tensor: where it goes and the byte parts to write. */
interface Planned {
  readonly name: string;
  readonly dtype: SafetensorsDtype;
  readonly shape: readonly number[];
  readonly parts: readonly TensorData[];
  readonly bytes: number;
}

/** A stack of parts forming one tensor as a `[parts.length, ...partShape]` tensor: the usual trajectory layout. */
export function stackedTensor(parts: readonly Float32Array[], partShape?: readonly number[]): TensorToWrite {
  const first = parts[0];
  const shape = partShape ?? [first?.length ?? 0];
  const size = elementCount(shape);
  for (const part of parts) {
    if (part.length !== size) throw new RangeError(`stacked parts must all hold ${size} values, one holds ${part.length}`);
  }
  return {dtype: 'F32', shape: [parts.length, ...shape], data: parts};
}

/** Builds the header bytes (already padded) and the write plan. */
function plan(tensors: TensorMap, metadata: Readonly<Record<string, string>> | undefined): {header: Uint8Array; planned: Planned[]} {
  const entries: [string, TensorToWrite][] =
    tensors instanceof Map ? [...(tensors as ReadonlyMap<string, TensorToWrite>).entries()] : Object.entries(tensors);
  const planned = entries.map(([name, tensor]): Planned => {
    if (name === '__metadata__') throw new RangeError('"__metadata__" is reserved and cannot name a tensor');
    const parts = Array.isArray(tensor.data) ? (tensor.data as readonly TensorData[]) : [tensor.data as TensorData];
    const firstPart = parts[0];
    const dtype: SafetensorsDtype = tensor.dtype ?? (firstPart === undefined ? 'F32' : ELEMENT_DTYPE[elementTypeOf(firstPart)]);
    const count = parts.reduce((n, p) => n + p.length, 0);
    if (count !== elementCount(tensor.shape)) {
      throw new RangeError(`tensor ${name}: shape [${tensor.shape.join(', ')}] needs ${elementCount(tensor.shape)} values, got ${count}`);
    }
    return {name, dtype, shape: [...tensor.shape], parts, bytes: count * ELEMENT_SIZE[DTYPE_ELEMENT[dtype]]};
  });
  planned.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareNames(a.name, b.name));
  // The JSON is assembled by hand because JSON.stringify would move integer-like keys ("0", "1") to the front;
  // the reference writer keeps the data order, and so must we for byte-identical files.
  const fields: string[] = [];
  if (metadata !== undefined) {
    const keys = Object.keys(metadata).sort(compareNames);
    const pairs = keys.map((key) => `${JSON.stringify(key)}:${JSON.stringify(String(metadata[key]))}`);
    fields.push(`"__metadata__":{${pairs.join(',')}}`);
  }
  let offset = 0;
  for (const t of planned) {
    const info = {dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes]};
    fields.push(`${JSON.stringify(t.name)}:${JSON.stringify(info)}`);
    offset += t.bytes;
  }
  const json = new TextEncoder().encode(`{${fields.join(',')}}`);
  const padded = new Uint8Array(Math.ceil(json.length / 8) * 8).fill(0x20);
  padded.set(json);
  return {header: padded, planned};
}

/** Byte-wise comparison of names (Rust's `String` order), not locale order. */
function compareNames(a: string, b: string): number {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return Buffer.compare(x, y);
}

function lengthPrefix(headerBytes: number): Uint8Array {
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(headerBytes), true);
  return prefix;
}

/** Serialises tensors (and optional string metadata) into one buffer. */
export function encodeSafetensors(tensors: TensorMap, metadata?: Readonly<Record<string, string>>): Uint8Array {
  const {header, planned} = plan(tensors, metadata);
  const dataBytes = planned.reduce((n, t) => n + t.bytes, 0);
  const out = new Uint8Array(8 + header.length + dataBytes);
  out.set(lengthPrefix(header.length), 0);
  out.set(header, 8);
  let offset = 8 + header.length;
  for (const t of planned) {
    for (const part of t.parts) {
      const bytes = toElementBytes(part, DTYPE_ELEMENT[t.dtype]);
      out.set(bytes, offset);
      offset += bytes.length;
    }
  }
  return out;
}

/**
 * Writes a safetensors file part by part (never holding more than one converted part in memory), to a temporary name
 * that is renamed into place once complete, so readers never see half a file.
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorMap,
  metadata?: Readonly<Record<string, string>>,
): Promise<void> {
  const {header, planned} = plan(tensors, metadata);
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(4).toString('hex')}.part`);
  const file = await open(temp, 'w');
  try {
    await file.write(lengthPrefix(header.length));
    await file.write(header);
    for (const t of planned) {
      for (const part of t.parts) await file.write(toElementBytes(part, DTYPE_ELEMENT[t.dtype]));
    }
    await file.close();
    await rename(temp, path);
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(temp, {force: true});
    throw error;
  }
}

/** Parses and validates the header; `totalBytes` is the whole file's size, to check that the data fits exactly. */
export function parseSafetensorsHeader(prefixAndHeader: Uint8Array, totalBytes: number, file?: string): SafetensorsHeader {
  const fail = (detail: string): TensorFileError =>
    new TensorFileError({reason: 'tensor-file-invalid', format: 'safetensors', detail, ...(file === undefined ? {} : {file})});
  if (prefixAndHeader.length < 8) throw fail('shorter than the 8-byte header length');
  const n = new DataView(prefixAndHeader.buffer, prefixAndHeader.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) throw fail(`header length ${n} is above the 100 MB limit`);
  const headerBytes = Number(n);
  if (8 + headerBytes > totalBytes || 8 + headerBytes > prefixAndHeader.length) {
    throw fail(`header length ${headerBytes} runs past the end of the file`);
  }
  let parsed: unknown;
  try {
    const text = new TextDecoder('utf-8', {fatal: true}).decode(prefixAndHeader.subarray(8, 8 + headerBytes));
    if (!text.startsWith('{')) throw new Error('does not start with "{"');
    parsed = JSON.parse(text);
  } catch (error) {
    throw fail(`header is not UTF-8 JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw fail('header is not a JSON object');
  const metadata: Record<string, string> = {};
  const tensors: {name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number}[] = [];
  for (const [name, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) throw fail('__metadata__ is not an object');
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw fail(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    const info = value as {dtype?: unknown; shape?: unknown; data_offsets?: unknown};
    if (typeof info.dtype !== 'string' || !(info.dtype in DTYPE_ELEMENT)) {
      throw fail(`tensor ${name} has dtype ${JSON.stringify(info.dtype)}, supported: ${Object.keys(DTYPE_ELEMENT).join(', ')}`);
    }
    const shape = info.shape;
    const offsets = info.data_offsets;
    const isDims = (v: unknown): v is number[] => Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
    if (!isDims(shape)) throw fail(`tensor ${name} has a bad shape`);
    if (!isDims(offsets) || offsets.length !== 2) throw fail(`tensor ${name} has bad data_offsets`);
    const dtype = info.dtype as SafetensorsDtype;
    const [begin = 0, end = 0] = offsets;
    if (end - begin !== elementCount(shape) * ELEMENT_SIZE[DTYPE_ELEMENT[dtype]]) {
      throw fail(`tensor ${name}: data_offsets [${begin}, ${end}] do not match ${dtype} [${shape.join(', ')}]`);
    }
    tensors.push({name, dtype, shape, begin, end});
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expected = 0;
  for (const t of tensors) {
    if (t.begin !== expected) throw fail(`tensor ${t.name} starts at ${t.begin}, expected ${expected} (holes or overlaps)`);
    expected = t.end;
  }
  if (8 + headerBytes + expected !== totalBytes) {
    throw fail(`data section is ${totalBytes - 8 - headerBytes} bytes, the header describes ${expected}`);
  }
  return {metadata, tensors, dataStart: 8 + headerBytes};
}

/** Parses a whole file held in memory. */
export function decodeSafetensors(
  bytes: Uint8Array,
  file?: string,
): {tensors: Map<string, StoredTensor>; metadata: Readonly<Record<string, string>>} {
  const header = parseSafetensorsHeader(bytes, bytes.length, file);
  const tensors = new Map<string, StoredTensor>();
  for (const t of header.tensors) {
    const data = fromElementBytes(bytes.subarray(header.dataStart + t.begin, header.dataStart + t.end), DTYPE_ELEMENT[t.dtype]);
    tensors.set(t.name, {dtype: t.dtype, shape: t.shape, data});
  }
  return {tensors, metadata: header.metadata};
}

/** Reads a whole file. */
export async function readSafetensors(
  path: string,
): Promise<{tensors: Map<string, StoredTensor>; metadata: Readonly<Record<string, string>>}> {
  const reader = await openSafetensors(path);
  try {
    const tensors = new Map<string, StoredTensor>();
    for (const t of reader.header.tensors) tensors.set(t.name, await reader.read(t.name));
    return {tensors, metadata: reader.header.metadata};
  } finally {
    await reader.close();
  }
}

/** A file opened for reading single tensors (e.g. two snapshots out of a long trajectory) without loading the rest. */
export interface SafetensorsReader {
  readonly header: SafetensorsHeader;
  /** Reads one tensor; rows `[first, first+count)` of its first axis only, when given. */
  read(name: string, rows?: {readonly first: number; readonly count: number}): Promise<StoredTensor>;
  close(): Promise<void>;
}

/** Opens a file and parses its header only. */
export async function openSafetensors(path: string): Promise<SafetensorsReader> {
  const file = await open(path, 'r');
  try {
    const size = (await file.stat()).size;
    const prefix = new Uint8Array(8);
    await file.read(prefix, 0, Math.min(8, size), 0);
    const n = size >= 8 ? Number(new DataView(prefix.buffer).getBigUint64(0, true)) : 0;
    const headBytes = new Uint8Array(8 + Math.max(0, Math.min(n, size - 8, MAX_HEADER_BYTES)));
    await file.read(headBytes, 0, headBytes.length, 0);
    const header = parseSafetensorsHeader(headBytes, size, path);
    return {
      header,
      async read(name, rows) {
        const info = header.tensors.find((t) => t.name === name);
        if (info === undefined) throw new RangeError(`${path} has no tensor ${name}`);
        let {begin, end} = info;
        let shape = info.shape;
        if (rows !== undefined) {
          const [outer = 1, ...inner] = shape;
          if (rows.first < 0 || rows.count < 0 || rows.first + rows.count > outer) {
            throw new RangeError(`rows [${rows.first}, ${rows.first + rows.count}) outside 0..${outer} of ${name}`);
          }
          const rowBytes = elementCount(inner) * ELEMENT_SIZE[DTYPE_ELEMENT[info.dtype]];
          begin += rows.first * rowBytes;
          end = begin + rows.count * rowBytes;
          shape = [rows.count, ...inner];
        }
        const bytes = new Uint8Array(end - begin);
        await file.read(bytes, 0, bytes.length, header.dataStart + begin);
        return {dtype: info.dtype, shape, data: fromElementBytes(bytes, DTYPE_ELEMENT[info.dtype])};
      },
      close: () => file.close(),
    };
  } catch (error) {
    await file.close();
    throw error;
  }
}
