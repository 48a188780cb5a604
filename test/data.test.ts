/**
 * Data loaders: CIFAR-10 (binary batches, subfolder, .tar.gz, download) and Fashion-MNIST (IDX), plus dataset helpers.
 * Every fixture is written by the tests in the official formats, a few records each.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {createHash} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, readdir, rm, writeFile} from 'node:fs/promises';
import {createServer} from 'node:http';
import type {AddressInfo} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {gzipSync} from 'fflate';
import {
  CIFAR10_FILES,
  CIFAR10_MEAN,
  CIFAR10_STD,
  loadCifar10,
  type Cifar10Options,
} from '../ml/data/cifar10.js';
import {initBackend} from '../ml/backend.js';
import {DataError, type DataFailure} from '../ml/data/data-error.js';
import {
  classCounts,
  denormalise,
  randomPerClass,
  subset,
  toTensors,
  type Dataset,
} from '../ml/data/dataset.js';
import {
  FASHION_MNIST_DEFAULT_ROOT,
  FASHION_MNIST_ENV,
  FASHION_MNIST_STATS,
  loadFashionMnist,
  pixelStats,
} from '../ml/data/fashion-mnist.js';
import {encodeIdx} from '../ml/data/idx.js';
import {readTar, writeTar} from '../ml/data/tar-gz.js';

const RECORD = 3073;

async function tempDir(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'distillery-data-'));
}

/** The pixel byte of record `r`, channel `c`, pixel `p`: distinct per channel so a channel mix-up shows. */
function pixel(r: number, c: number, p: number): number {
  return (r * 7 + c * 80 + p) % 256;
}

/** A CIFAR-10 batch of `records` records; labels cycle 0..9 starting at `labelOffset`. */
function cifarBatch(records: number, labelOffset = 0, firstRecord = 0): Uint8Array {
  const bytes = new Uint8Array(records * RECORD);
  for (let r = 0; r < records; r++) {
    bytes[r * RECORD] = (r + labelOffset) % 10;
    for (let c = 0; c < 3; c++) {
      for (let p = 0; p < 1024; p++) bytes[r * RECORD + 1 + c * 1024 + p] = pixel(firstRecord + r, c, p);
    }
  }
  return bytes;
}

/** Writes the six batch files (20 records each) into `folder`. */
async function writeCifarFiles(folder: string): Promise<void> {
  await mkdir(folder, {recursive: true});
  let first = 0;
  for (const name of CIFAR10_FILES.train) {
    await writeFile(join(folder, name), cifarBatch(20, first, first));
    first += 20;
  }
  await writeFile(join(folder, 'test_batch.bin'), cifarBatch(20, 3, 1000));
}

function cifarTarGz(): Uint8Array {
  let first = 0;
  const members = CIFAR10_FILES.train.map((name) => {
    const data = cifarBatch(20, first, first);
    first += 20;
    return {name: `cifar-10-batches-bin/${name}`, data};
  });
  members.push({name: 'cifar-10-batches-bin/test_batch.bin', data: cifarBatch(20, 3, 1000)});
  members.push({name: 'cifar-10-batches-bin/batches.meta.txt', data: new TextEncoder().encode('airplane\n')});
  return gzipSync(writeTar(members));
}

function expectFailure(reason: DataFailure['reason']): (error: unknown) => boolean {
  return (error) => error instanceof DataError && error.failure.reason === reason;
}

function checkCifarRecord(ds: Dataset, i: number, record: number): void {
  for (const p of [0, 1, 31, 32, 500, 1023]) {
    for (let c = 0; c < 3; c++) {
      const expected = (pixel(record, c, p) / 255 - (CIFAR10_MEAN[c] ?? 0)) / (CIFAR10_STD[c] ?? 1);
      const got = ds.x[(i * 1024 + p) * 3 + c] ?? NaN;
      assert.ok(Math.abs(got - expected) < 1e-5, `image ${i} pixel ${p} channel ${c}: ${got} vs ${expected}`);
    }
  }
}

test('cifar10: loose batches parse into normalised NHWC with R,G,B channel order', async () => {
  const root = await tempDir();
  await writeCifarFiles(root);
  const train = await loadCifar10({split: 'train', root, download: false});
  assert.equal(train.n, 100);
  assert.deepEqual([train.height, train.width, train.channels, train.classes], [32, 32, 3, 10]);
  assert.equal(train.x.length, 100 * 3072);
  assert.deepEqual(Array.from(train.y.subarray(0, 12)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  assert.equal(train.y[20], 0); // batch 2 starts at record 20 with label offset 20
  checkCifarRecord(train, 0, 0);
  checkCifarRecord(train, 57, 57);
  assert.deepEqual(train.mean, CIFAR10_MEAN);
  const testSplit = await loadCifar10({split: 'test', root, download: false});
  assert.equal(testSplit.n, 20);
  assert.equal(testSplit.y[0], 3);
  checkCifarRecord(testSplit, 5, 1005);
  await rm(root, {recursive: true});
});

test('cifar10: the cifar-10-batches-bin subfolder and limit', async () => {
  const root = await tempDir();
  await writeCifarFiles(join(root, 'cifar-10-batches-bin'));
  const ds = await loadCifar10({split: 'train', root, limit: 25, download: false});
  assert.equal(ds.n, 25);
  checkCifarRecord(ds, 24, 24);
  await rm(root, {recursive: true});
});

test('cifar10: reads the batches out of cifar-10-binary.tar.gz', async () => {
  const root = await tempDir();
  await writeFile(join(root, 'cifar-10-binary.tar.gz'), cifarTarGz());
  const ds = await loadCifar10({split: 'train', root, download: false});
  assert.equal(ds.n, 100);
  checkCifarRecord(ds, 99, 99);
  const testSplit = await loadCifar10({split: 'test', root, download: false});
  checkCifarRecord(testSplit, 19, 1019);
  await rm(root, {recursive: true});
});

test('cifar10: missing data without download is a typed error that says where to put which files', async () => {
  const root = await tempDir();
  await assert.rejects(loadCifar10({split: 'train', root, download: false}), (error: unknown) => {
    assert.ok(error instanceof DataError);
    assert.equal(error.failure.reason, 'data-missing');
    for (const needle of ['data_batch_1.bin', 'test_batch.bin', 'cifar-10-binary.tar.gz', root, 'cifar-10-batches-bin']) {
      assert.ok(error.message.includes(needle), `message lacks ${needle}: ${error.message}`);
    }
    return true;
  });
  await rm(root, {recursive: true});
});

test('cifar10: corrupt batches are typed errors (size, label)', async () => {
  const root = await tempDir();
  await writeCifarFiles(root);
  await writeFile(join(root, 'test_batch.bin'), cifarBatch(2).subarray(0, RECORD + 10));
  await assert.rejects(loadCifar10({split: 'test', root, download: false}), expectFailure('data-corrupt'));
  const bad = cifarBatch(2);
  bad[RECORD] = 11;
  await writeFile(join(root, 'test_batch.bin'), bad);
  await assert.rejects(loadCifar10({split: 'test', root, download: false}), /label 11/);
  await writeFile(join(root, 'test_batch.bin'), new Uint8Array(0));
  await rm(join(root, 'test_batch.bin'));
  await writeFile(join(root, 'cifar-10-binary.tar.gz'), gzipSync(new TextEncoder().encode('not a tar'.repeat(100))));
  await assert.rejects(loadCifar10({split: 'test', root, download: false}), expectFailure('data-corrupt'));
  await rm(root, {recursive: true});
});

test('cifar10: download from a (local) server with MD5 check, atomic rename and progress; mismatch keeps nothing', async () => {
  const archive = cifarTarGz();
  const md5 = createHash('md5').update(archive).digest('hex');
  const server = createServer((req, res) => {
    if (req.url === '/cifar-10-binary.tar.gz') {
      res.writeHead(200, {'content-length': String(archive.length)});
      res.end(archive);
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const root = await tempDir();
    const progress: number[] = [];
    const options: Cifar10Options = {
      split: 'test',
      root,
      url: `${base}/cifar-10-binary.tar.gz`,
      md5,
      onDownloadProgress: (p) => {
        assert.equal(p.totalBytes, archive.length);
        progress.push(p.receivedBytes);
      },
    };
    const ds = await loadCifar10(options);
    assert.equal(ds.n, 20);
    assert.equal(progress.at(-1), archive.length);
    assert.deepEqual(await readdir(root), ['cifar-10-binary.tar.gz']);

    const wrong = await tempDir();
    await assert.rejects(
      loadCifar10({...options, root: wrong, md5: '0'.repeat(32), onDownloadProgress: () => undefined}),
      expectFailure('download-checksum-mismatch'),
    );
    assert.deepEqual(await readdir(wrong), []);

    await assert.rejects(loadCifar10({...options, root: wrong, url: `${base}/nothing-here`}), (error: unknown) => {
      assert.ok(error instanceof DataError && error.failure.reason === 'data-missing');
      assert.match(error.message, /download failed: HTTP 404/);
      return true;
    });
    await rm(root, {recursive: true});
    await rm(wrong, {recursive: true});
  } finally {
    server.close();
  }
});

test('tar reader: round trip of the test writer; multi-block and empty members; chunks split anywhere; filtering', () => {
  const big = Uint8Array.from({length: 1500}, (_, i) => i % 251);
  const tar = writeTar([
    {name: 'a/one.bin', data: big},
    {name: 'a/empty', data: new Uint8Array(0)},
    {name: 'b.txt', data: new TextEncoder().encode('hi')},
  ]);
  // Chunks of 100 bytes split headers and data at arbitrary points, as gunzip output does.
  const chunks = Array.from({length: Math.ceil(tar.length / 100)}, (_, i) => tar.subarray(i * 100, (i + 1) * 100));
  const members = readTar(chunks, (name) => name !== 'b.txt');
  assert.deepEqual(readTar(tar, () => true).length, 3);
  assert.deepEqual(
    members.map((m) => [m.name, m.data.length]),
    [
      ['a/one.bin', 1500],
      ['a/empty', 0],
    ],
  );
  assert.deepEqual(members[0]?.data, big);
});

/** Fashion-MNIST-like IDX fixtures: `n` images of `side`x`side`, label i%10, pixel values from a formula. */
function idxPair(n: number, side = 28): {images: Uint8Array; labels: Uint8Array} {
  const pixels = Uint8Array.from({length: n * side * side}, (_, k) => (k * 13 + Math.floor(k / 7)) % 256);
  const labels = Uint8Array.from({length: n}, (_, i) => i % 10);
  return {images: encodeIdx([n, side, side], pixels), labels: encodeIdx([n], labels)};
}

async function writeFashion(root: string, gz: boolean, n = 30): Promise<{images: Uint8Array; labels: Uint8Array}> {
  await mkdir(root, {recursive: true});
  const train = idxPair(n);
  const test = idxPair(10);
  const put = async (name: string, bytes: Uint8Array): Promise<void> =>
    writeFile(join(root, gz ? `${name}.gz` : name), gz ? gzipSync(bytes) : bytes);
  await put('train-images-idx3-ubyte', train.images);
  await put('train-labels-idx1-ubyte', train.labels);
  await put('t10k-images-idx3-ubyte', test.images);
  await put('t10k-labels-idx1-ubyte', test.labels);
  return train;
}

test('fashion-mnist: gzipped and plain IDX files parse and normalise with the training-set statistics', async () => {
  for (const gz of [true, false]) {
    const root = await tempDir();
    const train = await writeFashion(root, gz);
    const ds = await loadFashionMnist({split: 'train', root});
    assert.deepEqual([ds.n, ds.height, ds.width, ds.channels, ds.classes], [30, 28, 28, 1, 10]);
    assert.deepEqual(Array.from(ds.y.subarray(0, 11)), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0]);
    assert.deepEqual(ds.mean, [FASHION_MNIST_STATS.mean]);
    for (const k of [0, 1, 783, 784, 5000, 30 * 784 - 1]) {
      const raw = train.images[16 + k] ?? 0;
      const expected = (raw / 255 - FASHION_MNIST_STATS.mean) / FASHION_MNIST_STATS.std;
      assert.ok(Math.abs((ds.x[k] ?? NaN) - expected) < 1e-5);
    }
    const limited = await loadFashionMnist({split: 'test', root, limit: 4});
    assert.equal(limited.n, 4);
    assert.equal(limited.x.length, 4 * 784);
    await rm(root, {recursive: true});
  }
});

test('fashion-mnist: computed statistics, and the env variable picks the folder', async () => {
  const root = await tempDir();
  const train = await writeFashion(root, true);
  const ds = await loadFashionMnist({split: 'train', stats: 'computed', env: {[FASHION_MNIST_ENV]: root}});
  const stats = pixelStats(train.images.subarray(16));
  assert.deepEqual(ds.mean, [stats.mean]);
  let sum = 0;
  let sumSq = 0;
  for (const v of ds.x) {
    sum += v;
    sumSq += v * v;
  }
  assert.ok(Math.abs(sum / ds.x.length) < 1e-4, 'normalised mean is 0');
  assert.ok(Math.abs(Math.sqrt(sumSq / ds.x.length) - 1) < 1e-4, 'normalised std is 1');
  await rm(root, {recursive: true});
});

test('fashion-mnist: missing files say how to install them; corrupt files are typed errors', async () => {
  const root = await tempDir();
  await assert.rejects(loadFashionMnist({split: 'train', root}), (error: unknown) => {
    assert.ok(error instanceof DataError && error.failure.reason === 'data-missing');
    assert.match(error.message, /sudo apt-get install dataset-fashion-mnist/);
    assert.ok(error.message.includes('train-images-idx3-ubyte.gz') && error.message.includes(root));
    return true;
  });
  await writeFashion(root, false);
  const {images, labels} = idxPair(5);
  const badMagic = images.slice();
  badMagic[3] = 1;
  await writeFile(join(root, 't10k-images-idx3-ubyte'), badMagic);
  await assert.rejects(loadFashionMnist({split: 'test', root}), /magic number 0x00000801, expected 0x00000803/);
  await writeFile(join(root, 't10k-images-idx3-ubyte'), images.subarray(0, images.length - 1));
  await assert.rejects(loadFashionMnist({split: 'test', root}), expectFailure('data-corrupt'));
  await writeFile(join(root, 't10k-images-idx3-ubyte'), images);
  await writeFile(join(root, 't10k-labels-idx1-ubyte'), encodeIdx([4], labels.subarray(8, 12)));
  await assert.rejects(loadFashionMnist({split: 'test', root}), /4 labels for 5 images/);
  await writeFile(join(root, 't10k-labels-idx1-ubyte.gz'), new Uint8Array([0x1f, 0x8b, 1, 2, 3]));
  await assert.rejects(loadFashionMnist({split: 'test', root}), /gzip data is damaged/);
  await rm(root, {recursive: true});
});

const realFiles = ['train-images-idx3-ubyte.gz', 'train-labels-idx1-ubyte.gz', 't10k-images-idx3-ubyte.gz', 't10k-labels-idx1-ubyte.gz'];
const realPresent = realFiles.every((f) => existsSync(join(FASHION_MNIST_DEFAULT_ROOT, f)));

test(
  'fashion-mnist: the real Debian files load as 60000/10000 with 6000 per class and the documented statistics',
  {skip: realPresent ? false : `the real files are absent from ${FASHION_MNIST_DEFAULT_ROOT} (apt-get install dataset-fashion-mnist)`},
  async () => {
    const train = await loadFashionMnist({split: 'train', root: FASHION_MNIST_DEFAULT_ROOT, stats: 'computed'});
    assert.equal(train.n, 60000);
    assert.deepEqual(classCounts(train), new Array(10).fill(6000));
    assert.ok(Math.abs((train.mean[0] ?? 0) - FASHION_MNIST_STATS.mean) < 1e-9);
    assert.ok(Math.abs((train.std[0] ?? 0) - FASHION_MNIST_STATS.std) < 1e-9);
    assert.equal(train.mean[0]?.toFixed(4), '0.2860');
    assert.equal(train.std[0]?.toFixed(4), '0.3530');
    const testSplit = await loadFashionMnist({split: 'test', root: FASHION_MNIST_DEFAULT_ROOT});
    assert.equal(testSplit.n, 10000);
    assert.deepEqual(classCounts(testSplit), new Array(10).fill(1000));
  },
);

/** A tiny data set: 10 images per class of 2x2x3, image i filled with the value i. */
function tinyDataset(): Dataset {
  const n = 30;
  const x = new Float32Array(n * 12);
  for (let i = 0; i < n; i++) x.fill(i, i * 12, (i + 1) * 12);
  return {
    x,
    y: Int32Array.from({length: n}, (_, i) => i % 3),
    n,
    height: 2,
    width: 2,
    channels: 3,
    classes: 3,
    classNames: ['a', 'b', 'c'],
    mean: [0.5, 0.4, 0.3],
    std: [0.2, 0.25, 0.5],
  };
}

test('dataset: first-n and stratified, seeded, class-major subsets', () => {
  const ds = tinyDataset();
  const first = subset(ds, {first: 4});
  assert.equal(first.n, 4);
  assert.deepEqual(Array.from(first.y), [0, 1, 2, 0]);
  assert.equal(first.x[3 * 12], 3);

  const a = randomPerClass(ds, 4, 7);
  const b = subset(ds, {perClass: 4, seed: 7});
  const c = randomPerClass(ds, 4, 8);
  assert.deepEqual(a.x, b.x);
  assert.notDeepEqual(a.x, c.x);
  assert.deepEqual(Array.from(a.y), [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
  const picked = Array.from({length: a.n}, (_, i) => a.x[i * 12] ?? -1);
  assert.equal(new Set(picked).size, 12, 'no image is drawn twice');
  picked.forEach((source, i) => assert.equal(source % 3, a.y[i], 'each image keeps its label'));
  assert.deepEqual(classCounts(a), [4, 4, 4]);
  assert.throws(() => randomPerClass(ds, 11, 1), expectFailure('not-enough-images'));
});

test('dataset: toTensors shapes and dtypes; denormalise inverts the normalisation', async () => {
  await initBackend();
  const ds = tinyDataset();
  const {x, y} = toTensors(ds);
  assert.deepEqual(x.shape, [30, 2, 2, 3]);
  assert.equal(x.dtype, 'float32');
  assert.deepEqual(y.shape, [30]);
  assert.equal(y.dtype, 'int32');
  assert.deepEqual(Array.from(y.dataSync().subarray(0, 4)), [0, 1, 2, 0]);
  x.dispose();
  y.dispose();
  const raw = Float32Array.from([0, 0.5, 1, 0.25, 0.75, 0.1]);
  const normalised = raw.map((v, i) => (v - (ds.mean[i % 3] ?? 0)) / (ds.std[i % 3] ?? 1));
  const back = denormalise(normalised, ds.mean, ds.std);
  back.forEach((v, i) => assert.ok(Math.abs(v - (raw[i] ?? NaN)) < 1e-6));
});
