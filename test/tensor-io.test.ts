/**
 * Tensor I/O: safetensors (golden bytes, round trips, streaming parts, lazy row reads, bad files), .npy/.npz (numpy's
 * exact header bytes; checked with numpy.load when python3 has numpy), PNG image grids (the report's charts: report.test.ts).
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawnSync} from 'node:child_process';
import {mkdtemp, readdir, readFile, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {PNG} from 'pngjs';
import {decodeNpy, encodeNpy} from '../ml/io/npy.js';
import {decodeNpz, encodeNpz, readSyntheticSetNpz, writeSyntheticSetNpz, type SyntheticSetArrays} from '../ml/io/npz.js';
import {renderImageGrid, type GridImages} from '../ml/io/png-grid.js';
import {
  decodeSafetensors,
  encodeSafetensors,
  openSafetensors,
  readSafetensors,
  stackedTensor,
  writeSafetensors,
} from '../ml/io/safetensors.js';
import {TensorFileError} from '../ml/io/tensor-file-error.js';

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'distillery-io-'));
}

function u64le(n: number): number[] {
  return [n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, (n >> 24) & 0xff, 0, 0, 0, 0];
}

function ascii(text: string): number[] {
  return [...text].map((ch) => ch.charCodeAt(0));
}

function floatBytes(values: number[]): number[] {
  return [...new Uint8Array(Float32Array.from(values).buffer)];
}

test('safetensors: byte-exact golden files (the reference implementation\'s test vectors and a multi-dtype file)', () => {
  // huggingface/safetensors tensor.rs test_serialization_forced_alignement: header padded to 72 with 7 spaces.
  const attn = encodeSafetensors({attn0: {shape: [1, 1, 2, 3], data: Float32Array.of(0, 1, 2, 3, 4, 5)}});
  const attnHeader = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}       ';
  assert.deepEqual([...attn], [...u64le(72), ...ascii(attnHeader), ...floatBytes([0, 1, 2, 3, 4, 5])]);
  // tensor.rs test_empty: no tensors, with and without metadata.
  assert.deepEqual([...encodeSafetensors({})], [...u64le(8), ...ascii('{}      ')]);
  assert.deepEqual(
    [...encodeSafetensors({}, {framework: 'pt'})],
    [...u64le(40), ...ascii('{"__metadata__":{"framework":"pt"}}     ')],
  );
  // Ours: sorted by dtype width (I64 > F32 > I32 > U8) then name, metadata keys sorted, int32 labels widened to I64.
  const mixed = encodeSafetensors(
    {
      c: {shape: [3], data: Uint8Array.of(1, 2, 255)},
      b: {shape: [2], data: Int32Array.of(-1, 7)},
      a: {shape: [2], data: Float32Array.of(0.5, -2)},
      lbl: {dtype: 'I64', shape: [1], data: Int32Array.of(-3)},
    },
    {z: '1', a: '2'},
  );
  const header =
    '{"__metadata__":{"a":"2","z":"1"},"lbl":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},' +
    '"a":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"b":{"dtype":"I32","shape":[2],"data_offsets":[16,24]},' +
    '"c":{"dtype":"U8","shape":[3],"data_offsets":[24,27]}}';
  const padded = header + ' '.repeat((8 - (header.length % 8)) % 8);
  const data = [
    ...[0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
    ...floatBytes([0.5, -2]),
    ...[0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0],
    ...[1, 2, 255],
  ];
  assert.deepEqual([...mixed], [...u64le(padded.length), ...ascii(padded), ...data]);
  assert.equal(padded.length % 8, 0);
});

test('safetensors: round trip of every supported dtype, scalars and integer-like names', () => {
  const bytes = encodeSafetensors(
    {
      f32: {shape: [2, 2], data: Float32Array.of(1.5, -0, Infinity, 3e-38)},
      f64: {shape: [1], data: Float64Array.of(Math.PI)},
      i32: {shape: [3], data: Int32Array.of(-2147483648, 0, 2147483647)},
      i64: {shape: [2], data: BigInt64Array.of(-(2n ** 63n), 2n ** 62n)},
      u8: {shape: [2], data: Uint8Array.of(0, 255)},
      mask: {dtype: 'BOOL', shape: [3], data: Uint8Array.of(1, 0, 1)},
      i16: {shape: [1], data: Int16Array.of(-300)},
      scalar: {shape: [], data: Float32Array.of(0.01)},
      '7': {shape: [1], data: Float32Array.of(7)},
    },
    {note: 'héllo "quoted"'},
  );
  const {tensors, metadata} = decodeSafetensors(bytes);
  assert.deepEqual(metadata, {note: 'héllo "quoted"'});
  assert.deepEqual(tensors.get('f32')?.data, Float32Array.of(1.5, -0, Infinity, 3e-38));
  assert.deepEqual(tensors.get('f32')?.shape, [2, 2]);
  assert.deepEqual(tensors.get('f64')?.data, Float64Array.of(Math.PI));
  assert.deepEqual(tensors.get('i32')?.data, Int32Array.of(-2147483648, 0, 2147483647));
  assert.deepEqual(tensors.get('i64')?.data, BigInt64Array.of(-(2n ** 63n), 2n ** 62n));
  assert.equal(tensors.get('mask')?.dtype, 'BOOL');
  assert.deepEqual(tensors.get('mask')?.data, Uint8Array.of(1, 0, 1));
  assert.deepEqual(tensors.get('i16')?.data, Int16Array.of(-300));
  assert.deepEqual(tensors.get('scalar')?.shape, []);
  assert.deepEqual(tensors.get('7')?.data, Float32Array.of(7));
  assert.throws(() => encodeSafetensors({m: {dtype: 'BOOL', shape: [1], data: Uint8Array.of(2)}}), /only 0 and 1/);
  assert.throws(() => encodeSafetensors({m: {shape: [3], data: Float32Array.of(1)}}), /needs 3 values, got 1/);
});

test('safetensors: streamed file of trajectory snapshots, lazy row reads, atomic write', async () => {
  const dir = await tempDir();
  const path = join(dir, 'trajectory.safetensors');
  const snapshots = Array.from({length: 5}, (_, s) => Float32Array.from({length: 1000}, (_, i) => s * 1000 + i));
  await writeSafetensors(path, {theta: stackedTensor(snapshots), seed: {shape: [], data: Int32Array.of(42)}}, {kind: 'trajectory'});
  assert.deepEqual(await readdir(dir), ['trajectory.safetensors'], 'no temporary file left');
  const whole = await readSafetensors(path);
  assert.deepEqual(whole.tensors.get('theta')?.shape, [5, 1000]);
  assert.equal((whole.tensors.get('theta')?.data as Float32Array)[3999], 3999);
  assert.equal(whole.metadata['kind'], 'trajectory');
  const reader = await openSafetensors(path);
  try {
    const rows = await reader.read('theta', {first: 2, count: 2});
    assert.deepEqual(rows.shape, [2, 1000]);
    assert.deepEqual(rows.data, Float32Array.from({length: 2000}, (_, i) => 2000 + i));
    await assert.rejects(reader.read('theta', {first: 4, count: 2}), RangeError);
  } finally {
    await reader.close();
  }
  await rm(dir, {recursive: true});
});

test('safetensors: truncated, non-JSON, holey and oversized files are typed errors', () => {
  const good = encodeSafetensors({a: {shape: [2], data: Float32Array.of(1, 2)}});
  const invalid = (bytes: Uint8Array, pattern: RegExp): void => {
    assert.throws(
      () => decodeSafetensors(bytes),
      (error: unknown) => error instanceof TensorFileError && error.failure.format === 'safetensors' && pattern.test(error.message),
    );
  };
  invalid(good.subarray(0, good.length - 1), /data section is 7 bytes, the header describes 8/);
  invalid(good.subarray(0, 5), /shorter than the 8-byte/);
  const notJson = good.slice();
  notJson[8] = 'x'.charCodeAt(0);
  invalid(notJson, /not UTF-8 JSON/);
  const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}';
  invalid(Uint8Array.from([...u64le(header.length), ...ascii(header), ...new Array<number>(8).fill(0)]), /starts at 4, expected 0/);
  const badDtype = '{"a":{"dtype":"F16","shape":[1],"data_offsets":[0,2]}}';
  invalid(Uint8Array.from([...u64le(badDtype.length), ...ascii(badDtype), 0, 0]), /dtype "F16"/);
  const huge = good.slice();
  huge.set(u64le(200_000_000), 0);
  invalid(huge, /above the 100 MB limit/);
});

/** Runs python3 with numpy if both are there; undefined otherwise (checked once, at load time). */
const numpyAvailable = spawnSync('python3', ['-c', 'import numpy'], {stdio: 'ignore'}).status === 0;

function python(script: string, ...args: string[]): string {
  const result = spawnSync('python3', ['-c', script, ...args], {encoding: 'utf8'});
  assert.equal(result.status, 0, result.stderr);
  return result.stdout;
}

test('npy: header bytes follow the NumPy format spec (v1.0, 64-byte aligned, trailing comma for 1-D)', () => {
  const vector = encodeNpy({shape: [3], data: Float32Array.of(1, 2, 3)});
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }";
  assert.deepEqual([...vector.subarray(0, 8)], [0x93, ...ascii('NUMPY'), 1, 0]);
  const headerLength = vector[8]! | (vector[9]! << 8);
  assert.equal((10 + headerLength) % 64, 0);
  const header = new TextDecoder().decode(vector.subarray(10, 10 + headerLength));
  assert.ok(header.startsWith(dict));
  assert.ok(header.endsWith('\n'));
  assert.equal(header.trimEnd(), dict);
  const scalar = new TextDecoder().decode(encodeNpy({shape: [], data: Float32Array.of(0.5)}).subarray(10, 128));
  assert.equal(scalar.trimEnd(), "{'descr': '<f4', 'fortran_order': False, 'shape': (), }");
  const labels = decodeNpy(encodeNpy({type: 'int64', shape: [2], data: Int32Array.of(-1, 9)}));
  assert.equal(labels.type, 'int64');
  assert.deepEqual(labels.data, BigInt64Array.of(-1n, 9n));
  const matrix = decodeNpy(encodeNpy({shape: [2, 3], data: Uint8Array.of(1, 2, 3, 4, 5, 6)}));
  assert.deepEqual([matrix.type, matrix.shape], ['uint8', [2, 3]]);
  assert.throws(() => decodeNpy(vector.subarray(0, vector.length - 1)), TensorFileError);
  assert.throws(() => decodeNpy(new Uint8Array(20)), /magic/);
});

/** A 3-image, 2x2, 3-channel synthetic set whose pixel values encode (image, row, column, channel). */
function syntheticSet(): SyntheticSetArrays {
  const n = 3;
  const x = new Float32Array(n * 2 * 2 * 3);
  for (let i = 0; i < n; i++) {
    for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) x[(i * 4 + p) * 3 + c] = i * 100 + p * 10 + c;
  }
  return {x, y: Int32Array.of(0, 1, 1), n, height: 2, width: 2, channels: 3, lr: 0.0123, mean: [0.1, 0.2, 0.3], std: [0.4, 0.5, 0.6]};
}

test(
  numpyAvailable
    ? 'npz: the synthetic-set export loads in numpy.load with NCHW x, int64 y, scalar lr; np.save bytes match ours'
    : 'npz: synthetic-set export round trip with our reader only (python3 with numpy not found on this machine)',
  async () => {
    const dir = await tempDir();
    const path = join(dir, 'set.npz');
    const set = syntheticSet();
    await writeSyntheticSetNpz(path, set);
    const back = await readSyntheticSetNpz(path);
    assert.deepEqual(back.x, set.x);
    assert.deepEqual(back.y, set.y);
    assert.ok(Math.abs(back.lr - 0.0123) < 1e-8);
    assert.deepEqual(back.mean, Array.from(Float32Array.from(set.mean)));
    const arrays = decodeNpz(new Uint8Array(await readFile(path)));
    assert.deepEqual(arrays.get('x')?.shape, [3, 3, 2, 2]);
    // NCHW: image 1, channel 2, row 1, column 0 is pixel p = 2 of image 1 in NHWC.
    assert.equal((arrays.get('x')?.data as Float32Array)[((1 * 3 + 2) * 2 + 1) * 2 + 0], 100 + 20 + 2);
    assert.equal(arrays.get('y')?.type, 'int64');
    assert.deepEqual(arrays.get('lr')?.shape, []);
    if (numpyAvailable) {
      const script = [
        'import sys, json, numpy as np',
        'd = np.load(sys.argv[1])',
        'x = d["x"]',
        'print(json.dumps({k: [str(d[k].dtype), list(d[k].shape)] for k in sorted(d.files)}))',
        'print(json.dumps([float(x[1, 2, 1, 0]), float(x[2, 0, 0, 1]), d["y"].tolist(), float(d["lr"]), d["std"].tolist()]))',
      ].join('\n');
      const [kinds, values] = python(script, path).trim().split('\n');
      assert.deepEqual(JSON.parse(kinds ?? ''), {
        lr: ['float32', []],
        mean: ['float32', [3]],
        std: ['float32', [3]],
        x: ['float32', [3, 3, 2, 2]],
        y: ['int64', [3]],
      });
      const [a, b, y, lr, std] = JSON.parse(values ?? '') as [number, number, number[], number, number[]];
      assert.equal(a, 122);
      assert.equal(b, 210); // image 2, channel 0, row 0, column 1 = pixel 1
      assert.deepEqual(y, [0, 1, 1]);
      assert.ok(Math.abs(lr - 0.0123) < 1e-8);
      assert.deepEqual(std, Array.from(Float32Array.of(0.4, 0.5, 0.6)));
      // Byte-for-byte equality with numpy.save for a few shapes and dtypes.
      const cases = [
        {py: 'np.arange(3, dtype=np.float32)', ours: encodeNpy({shape: [3], data: Float32Array.of(0, 1, 2)})},
        {py: 'np.array(0.5, dtype=np.float32)', ours: encodeNpy({shape: [], data: Float32Array.of(0.5)})},
        {py: 'np.arange(6, dtype=np.int64).reshape(2, 3)', ours: encodeNpy({type: 'int64', shape: [2, 3], data: Int32Array.of(0, 1, 2, 3, 4, 5)})},
        {py: 'np.zeros((12345, 0, 7), dtype=np.uint8)', ours: encodeNpy({shape: [12345, 0, 7], data: new Uint8Array(0)})},
      ];
      for (const [k, c] of cases.entries()) {
        const file = join(dir, `case${k}.npy`);
        python(`import sys, numpy as np\nnp.save(sys.argv[1], ${c.py})`, file);
        assert.deepEqual([...new Uint8Array(await readFile(file))], [...c.ours], c.py);
      }
    }
    const compressed = decodeNpz(encodeNpz({a: {shape: [4], data: Float64Array.of(1, 2, 3, 4)}}, {compress: true}));
    assert.deepEqual(compressed.get('a')?.data, Float64Array.of(1, 2, 3, 4));
    assert.throws(() => decodeNpz(new Uint8Array(30)), (e: unknown) => e instanceof TensorFileError && e.failure.format === 'npz');
    await rm(dir, {recursive: true});
  },
);

function pixelAt(png: PNG, x: number, y: number): number[] {
  const o = (y * png.width + x) * 4;
  return [png.data[o] ?? -1, png.data[o + 1] ?? -1, png.data[o + 2] ?? -1];
}

test('png grid: rows are classes, columns images; denormalised, clipped, upscaled; grey and RGB', () => {
  // Two classes, images given out of class order; values chosen so that denormalised pixels are known bytes.
  const mean = [0.5, 0.5, 0.5];
  const std = [0.25, 0.25, 0.25];
  const normalise = (v: number): number => (v - 0.5) / 0.25;
  const n = 3;
  const x = new Float32Array(n * 4 * 3);
  const colours = [
    [1, 0, 0],
    [0, 1, 0],
    [0.2, 0.4, 2], // blue above 1 must clip to 255
  ];
  for (let i = 0; i < n; i++) for (let p = 0; p < 4; p++) for (let c = 0; c < 3; c++) x[(i * 4 + p) * 3 + c] = normalise(colours[i]![c]!);
  const images: GridImages = {x, y: Int32Array.of(1, 0, 1), n, height: 2, width: 2, channels: 3, classes: 2, mean, std};
  const png = PNG.sync.read(renderImageGrid(images, {scale: 3, gap: 1}));
  // 2 columns (class 1 has two images), 2 rows; cells 6x6, 1-pixel gaps.
  assert.deepEqual([png.width, png.height], [2 * 6 + 3, 2 * 6 + 3]);
  assert.deepEqual(pixelAt(png, 1, 1), [0, 255, 0], 'row 0 = class 0 = image 1 (green)');
  assert.deepEqual(pixelAt(png, 6, 6), [0, 255, 0]);
  assert.deepEqual(pixelAt(png, 1, 8), [255, 0, 0], 'row 1, column 0 = image 0 (red)');
  assert.deepEqual(pixelAt(png, 8 + 5, 8 + 5), [51, 102, 255], 'row 1, column 1 = image 2, clipped');
  assert.deepEqual(pixelAt(png, 8, 1), [255, 255, 255], 'class 0 has no second image: background');
  assert.deepEqual(pixelAt(png, 0, 0), [255, 255, 255], 'gap');

  const grey: GridImages = {
    x: Float32Array.of(normalise(0), normalise(1), normalise(0.5), normalise(-1)),
    y: Int32Array.of(0),
    n: 1,
    height: 2,
    width: 2,
    channels: 1,
    classes: 1,
    mean: [0.5],
    std: [0.25],
  };
  const greyBytes = renderImageGrid(grey, {scale: 1, gap: 0});
  assert.equal(greyBytes[25], 0, 'IHDR colour type 0: greyscale');
  const decoded = PNG.sync.read(greyBytes);
  assert.deepEqual([decoded.width, decoded.height], [2, 2]);
  assert.deepEqual([0, 1, 2, 3].map((p) => pixelAt(decoded, p % 2, Math.floor(p / 2))[0]), [0, 255, 128, 0]);
});
