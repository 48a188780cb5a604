/**
 * Element types shared by the tensor file formats, and the little-endian byte views of typed arrays.
 *
 * Both safetensors and .npy store raw little-endian values, so on a little-endian host (every machine tfjs runs on in
 * practice) a typed array's bytes can be written as they are, with no per-element encoding.
 */
import {endianness} from 'node:os';

/** The element types the writers and readers support. */
export type ElementType =
  | 'bool'
  | 'uint8'
  | 'int8'
  | 'int16'
  | 'uint16'
  | 'int32'
  | 'uint32'
  | 'float32'
  | 'float64'
  | 'int64'
  | 'uint64';

/** The typed arrays that hold tensor values (`bool` is held in a Uint8Array of 0/1). */
export type TensorData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | Float32Array
  | Float64Array
  | BigInt64Array
  | BigUint64Array;

/** Bytes per element. */
export const ELEMENT_SIZE: Readonly<Record<ElementType, number>> = {
  bool: 1,
  uint8: 1,
  int8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  float32: 4,
  float64: 8,
  int64: 8,
  uint64: 8,
};

/** The element type a typed array holds natively (a Uint8Array counts as `uint8`). */
export function elementTypeOf(data: TensorData): ElementType {
  if (data instanceof Float32Array) return 'float32';
  if (data instanceof Float64Array) return 'float64';
  if (data instanceof Int32Array) return 'int32';
  if (data instanceof Uint32Array) return 'uint32';
  if (data instanceof Int16Array) return 'int16';
  if (data instanceof Uint16Array) return 'uint16';
  if (data instanceof Int8Array) return 'int8';
  if (data instanceof BigInt64Array) return 'int64';
  if (data instanceof BigUint64Array) return 'uint64';
  return 'uint8';
}

/**
 * The little-endian bytes of `data` stored as `type`. Same-kind data is viewed without copying; the widenings that come
 * up in practice (int32 -> int64 labels, uint8 -> bool masks, float32 <-> float64) are converted. Anything else throws.
 */
export function toElementBytes(data: TensorData, type: ElementType): Uint8Array {
  assertLittleEndianHost();
  const native = elementTypeOf(data);
  let converted: TensorData;
  if (native === type || (native === 'uint8' && type === 'bool')) {
    if (type === 'bool' && (data as Uint8Array).some((v) => v > 1)) {
      throw new RangeError('bool tensors must hold only 0 and 1');
    }
    converted = data;
  } else if (type === 'int64' && (native === 'int32' || native === 'int16' || native === 'int8' || native === 'uint8')) {
    converted = BigInt64Array.from(data as Int32Array, (v) => BigInt(v));
  } else if (type === 'float32' && native === 'float64') {
    converted = Float32Array.from(data as Float64Array);
  } else if (type === 'float64' && native === 'float32') {
    converted = Float64Array.from(data as Float32Array);
  } else {
    throw new TypeError(`cannot store a ${data.constructor.name} as ${type}`);
  }
  return new Uint8Array(converted.buffer, converted.byteOffset, converted.byteLength);
}

/** A fresh, aligned typed array of `type` holding a copy of the little-endian `bytes`. */
export function fromElementBytes(bytes: Uint8Array, type: ElementType): TensorData {
  assertLittleEndianHost();
  const copy = bytes.slice().buffer;
  switch (type) {
    case 'bool':
    case 'uint8':
      return new Uint8Array(copy);
    case 'int8':
      return new Int8Array(copy);
    case 'int16':
      return new Int16Array(copy);
    case 'uint16':
      return new Uint16Array(copy);
    case 'int32':
      return new Int32Array(copy);
    case 'uint32':
      return new Uint32Array(copy);
    case 'float32':
      return new Float32Array(copy);
    case 'float64':
      return new Float64Array(copy);
    case 'int64':
      return new BigInt64Array(copy);
    case 'uint64':
      return new BigUint64Array(copy);
    default:
      return unreachable(type);
  }
}

/** Number of elements of a shape (1 for a scalar, shape `[]`). */
export function elementCount(shape: readonly number[]): number {
  let count = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) throw new RangeError(`bad dimension ${d} in shape [${shape.join(', ')}]`);
    count *= d;
  }
  return count;
}

function assertLittleEndianHost(): void {
  if (endianness() !== 'LE') throw new Error('Internal error: tensor files are little-endian and this host is not');
}

/** Exhaustiveness guard for switches over unions. */
export function unreachable(value: never): never {
  throw new Error(`Internal error: unexpected value ${JSON.stringify(value)}`);
}
