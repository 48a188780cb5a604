/**
 * Fashion-MNIST from its IDX files (60,000 train + 10,000 test grey 28x28 images, 10 classes).
 *
 * It is the real data set that experiments can run on a CPU here: Debian's `dataset-fashion-mnist` package installs the
 * four published `.gz` files in `/usr/share/datasets/fashion-mnist/`, which is the default folder. Uncompressed copies
 * (the same names without `.gz`) are read as well.
 */
import {readFile, stat} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import type {Dataset} from './dataset.js';
import {DataError} from './data-error.js';
import {IdxFormatError, maybeGunzip, parseIdx} from './idx.js';

/** Where Debian's `dataset-fashion-mnist` package puts the files. */
export const FASHION_MNIST_DEFAULT_ROOT = '/usr/share/datasets/fashion-mnist/';
/** Env variable that overrides the default folder. */
export const FASHION_MNIST_ENV = 'DISTILLERY_FASHION_MNIST';

/**
 * Mean and standard deviation of all training pixels in [0,1] units (population std), computed from the 47,040,000
 * training pixels with `pixelStats` and checked against the real files by the tests: 0.2860 / 0.3530.
 */
export const FASHION_MNIST_STATS = {mean: 0.2860405969887955, std: 0.35302424451492254} as const;

/** Class names in label order (from the Fashion-MNIST README). */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
];

/** File names (without `.gz`) of each split. */
export const FASHION_MNIST_FILES = {
  train: {images: 'train-images-idx3-ubyte', labels: 'train-labels-idx1-ubyte'},
  test: {images: 't10k-images-idx3-ubyte', labels: 't10k-labels-idx1-ubyte'},
} as const;

/** Options of `loadFashionMnist`. */
export interface FashionMnistOptions {
  readonly split: 'train' | 'test';
  /** Folder with the files (default: env `DISTILLERY_FASHION_MNIST`, else `FASHION_MNIST_DEFAULT_ROOT`). */
  readonly root?: string;
  /** Keep only the first `limit` images. */
  readonly limit?: number;
  /**
   * Normalisation statistics. Default `FASHION_MNIST_STATS` (the training-set values), used for both splits as in
   * the reference code; pass `'computed'` to compute them from the loaded split itself (for other data in this format).
   */
  readonly stats?: {readonly mean: number; readonly std: number} | 'computed';
  readonly env?: NodeJS.ProcessEnv;
}

/** The folder `loadFashionMnist` reads when given `options`. */
export function fashionMnistRoot(options: Pick<FashionMnistOptions, 'root' | 'env'> = {}): string {
  const env = options.env ?? process.env;
  return resolve(options.root ?? (env[FASHION_MNIST_ENV] || FASHION_MNIST_DEFAULT_ROOT));
}

/**
 * Loads one split, normalised as `(v/255 - mean) / std`, NHWC with one channel.
 * Throws `DataError`: `data-missing` (the message says how to install or where to put the files) or `data-corrupt`.
 */
export async function loadFashionMnist(options: FashionMnistOptions): Promise<Dataset> {
  const root = fashionMnistRoot(options);
  const names = FASHION_MNIST_FILES[options.split];
  const imagesFile = await findFile(root, names.images);
  const labelsFile = await findFile(root, names.labels);
  if (imagesFile === undefined || labelsFile === undefined) {
    const all = [FASHION_MNIST_FILES.train, FASHION_MNIST_FILES.test].flatMap((s) => [`${s.images}.gz`, `${s.labels}.gz`]);
    throw new DataError(
      {reason: 'data-missing', dataset: 'Fashion-MNIST', searched: [root], expected: all},
      `Fix: sudo apt-get install dataset-fashion-mnist (installs them in ${FASHION_MNIST_DEFAULT_ROOT}), or put the ` +
        `files (gzipped or not) in ${root}; choose another folder with the root option or ${FASHION_MNIST_ENV}.`,
    );
  }
  const images = parseFile(await readFile(imagesFile), imagesFile, 3);
  const labels = parseFile(await readFile(labelsFile), labelsFile, 1);
  const [count = 0, height = 0, width = 0] = images.shape;
  if (labels.shape[0] !== count) {
    throw corrupt(labelsFile, `${labels.shape[0] ?? 0} labels for ${count} images in ${imagesFile}`);
  }
  const n = options.limit === undefined ? count : Math.min(count, Math.max(0, Math.floor(options.limit)));
  const pixels = images.data.subarray(0, n * height * width);
  const stats = options.stats === 'computed' ? pixelStats(pixels) : (options.stats ?? FASHION_MNIST_STATS);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const label = labels.data[i] ?? 0;
    if (label >= FASHION_MNIST_CLASSES.length) throw corrupt(labelsFile, `label ${label} at index ${i}, expected 0..9`);
    y[i] = label;
  }
  const table = Float32Array.from({length: 256}, (_, v) => (v / 255 - stats.mean) / stats.std);
  const x = new Float32Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) x[i] = table[pixels[i] as number] as number;
  return {
    x,
    y,
    n,
    height,
    width,
    channels: 1,
    classes: FASHION_MNIST_CLASSES.length,
    classNames: FASHION_MNIST_CLASSES,
    mean: [stats.mean],
    std: [stats.std],
  };
}

/** Mean and population standard deviation of 8-bit pixels, in [0,1] units (sums in float64 over a histogram). */
export function pixelStats(pixels: Uint8Array): {mean: number; std: number} {
  const histogram = new Float64Array(256);
  for (const v of pixels) histogram[v] = (histogram[v] ?? 0) + 1;
  let sum = 0;
  let sumSq = 0;
  histogram.forEach((count, v) => {
    sum += count * (v / 255);
    sumSq += count * (v / 255) ** 2;
  });
  const mean = sum / pixels.length;
  return {mean, std: Math.sqrt(Math.max(0, sumSq / pixels.length - mean * mean))};
}

async function findFile(root: string, name: string): Promise<string | undefined> {
  for (const candidate of [join(root, `${name}.gz`), join(root, name)]) {
    try {
      if ((await stat(candidate)).isFile()) return candidate;
    } catch {
      // not there: try the next name
    }
  }
  return undefined;
}

function parseFile(bytes: Uint8Array, file: string, dims: number): ReturnType<typeof parseIdx> {
  try {
    return parseIdx(maybeGunzip(bytes), dims);
  } catch (error) {
    if (error instanceof IdxFormatError) throw corrupt(file, error.message);
    throw error;
  }
}

function corrupt(file: string, detail: string): DataError {
  return new DataError({reason: 'data-corrupt', dataset: 'Fashion-MNIST', file, detail});
}
