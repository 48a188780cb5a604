/**
 * NumPy's `.npy` format (numpy/lib/format.py, "NPY format version 1.0"), written exactly as `numpy.save` writes it.
 *
 * Layout: the magic `\x93NUMPY`, version bytes 1 0, a little-endian u16 header length, then an ASCII Python dict
 * literal `{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }` padded with spaces and ended by `\n` so that the
 * data starts at a multiple of 64 bytes; then the raw C-order values. Like numpy (>= 1.24 / 2.x), the writer leaves
 * room after the dict for the first dimension to grow to 21 digits, so our bytes equal `numpy.save`'s.
 */
import {ELEMENT_SIZE, elementCount, elementTypeOf, fromElementBytes, toElementBytes, unreachable} from './element-type.js';
import type {ElementType, TensorData} from './element-type.js';
import {TensorFileError} from './tensor-file-error.js';

/** An array to write or one read back; `shape` `[]` is a scalar. */
export interface NpyArray {
  readonly type: ElementType;
  readonly shape: readonly number[];
  readonly data: TensorData;
}

const MAGIC = [0x93, ...new TextEncoder().encode('NUMPY')];
/** numpy's ARRAY_ALIGN: the data offset is a multiple of this. */
const ALIGN = 64;
/** numpy's GROWTH_AXIS_MAX_DIGITS: spare room so the header can be rewritten in place when an axis grows. */
const GROWTH_AXIS_MAX_DIGITS = 21;

/** The numpy `descr` of each element type (little-endian; single bytes have no byte order, `|`). */
export function npyDescr(type: ElementType): string {
  switch (type) {
    case 'bool':
      return '|b1';
    case 'uint8':
      return '|u1';
    case 'int8':
      return '|i1';
    case 'int16':
      return '<i2';
    case 'uint16':
      return '<u2';
    case 'int32':
      return '<i4';
    case 'uint32':
      return '<u4';
    case 'float32':
      return '<f4';
    case 'float64':
      return '<f8';
    case 'int64':
      return '<i8';
    case 'uint64':
      return '<u8';
    default:
      return unreachable(type);
  }
}

/** Python's `repr` of a shape tuple: `()`, `(5,)`, `(2, 3)`. */
function shapeRepr(shape: readonly number[]): string {
  if (shape.length === 1) return `(${shape[0]},)`;
  return `(${shape.join(', ')})`;
}

/** Encodes one array as `.npy` bytes (version 1.0, C order). `data` is converted to `type` when needed (int32 -> int64). */
export function encodeNpy(array: {readonly type?: ElementType; readonly shape: readonly number[]; readonly data: TensorData}): Uint8Array {
  const type = array.type ?? elementTypeOf(array.data);
  if (elementCount(array.shape) !== array.data.length) {
    throw new RangeError(`shape [${array.shape.join(', ')}] needs ${elementCount(array.shape)} values, got ${array.data.length}`);
  }
  let dict = `{'descr': '${npyDescr(type)}', 'fortran_order': False, 'shape': ${shapeRepr(array.shape)}, }`;
  if (array.shape.length > 0) dict += ' '.repeat(Math.max(0, GROWTH_AXIS_MAX_DIGITS - String(array.shape[0]).length));
  // 10 = magic (6) + version (2) + header length (2); +1 for the final newline. numpy pads with ALIGN - (x % ALIGN),
  // which is a full 64 when x is already aligned; copied as is for identical bytes.
  const unpadded = 10 + dict.length + 1;
  const padding = ALIGN - (unpadded % ALIGN);
  const headerLength = dict.length + padding + 1;
  if (headerLength > 0xffff) throw new RangeError('npy header longer than 65535 bytes needs format 2.0 (not written here)');
  const body = toElementBytes(array.data, type);
  const out = new Uint8Array(10 + headerLength + body.length);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, headerLength, true);
  out.set(new TextEncoder().encode(dict + ' '.repeat(padding) + '\n'), 10);
  out.set(body, 10 + headerLength);
  return out;
}

const DESCR_TYPES: Readonly<Record<string, ElementType>> = {
  '|b1': 'bool',
  '|u1': 'uint8',
  '<u1': 'uint8',
  '|i1': 'int8',
  '<i1': 'int8',
  '<i2': 'int16',
  '<u2': 'uint16',
  '<i4': 'int32',
  '<u4': 'uint32',
  '<f4': 'float32',
  '<f8': 'float64',
  '<i8': 'int64',
  '<u8': 'uint64',
};

/** Decodes `.npy` bytes (versions 1.0, 2.0 and 3.0; little-endian C-order arrays of the supported types). */
export function decodeNpy(bytes: Uint8Array, file?: string): NpyArray {
  const fail = (detail: string): TensorFileError =>
    new TensorFileError({reason: 'tensor-file-invalid', format: 'npy', detail, ...(file === undefined ? {} : {file})});
  if (bytes.length < 10 || MAGIC.some((b, i) => bytes[i] !== b)) throw fail('no \\x93NUMPY magic string');
  const major = bytes[6] ?? 0;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let start: number;
  let headerLength: number;
  if (major === 1) {
    headerLength = view.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.length < 12) throw fail('truncated header length');
    headerLength = view.getUint32(8, true);
    start = 12;
  } else {
    throw fail(`format version ${major}.${bytes[7] ?? 0} is not supported`);
  }
  if (start + headerLength > bytes.length) throw fail('header runs past the end of the data');
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLength));
  const descr = /'descr':\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw fail(`cannot parse header ${header.trim()}`);
  if (fortran === 'True') throw fail('Fortran-order arrays are not supported');
  const type = DESCR_TYPES[descr];
  if (type === undefined) throw fail(`dtype ${descr} is not supported (${Object.keys(DESCR_TYPES).join(', ')})`);
  const shape = shapeText
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')
    .map((s) => Number(s.replace(/L$/, '')));
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0)) throw fail(`bad shape (${shapeText})`);
  const body = bytes.subarray(start + headerLength);
  const expected = elementCount(shape) * ELEMENT_SIZE[type];
  if (body.length !== expected) throw fail(`data is ${body.length} bytes, ${descr} (${shape.join(', ')}) needs ${expected}`);
  return {type, shape, data: fromElementBytes(body, type)};
}
