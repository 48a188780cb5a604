/**
 * CIFAR-10 from the official binary distribution.
 *
 * No registry reachable from our machines carries CIFAR-10, so the loader reads the files the Toronto site publishes:
 * `data_batch_1.bin` ... `data_batch_5.bin` and `test_batch.bin`, each a run of 3073-byte records (1 label byte, then the
 * 32x32 red plane, green plane and blue plane, row-major). It accepts them loose in the folder, in the archive's
 * `cifar-10-batches-bin/` subfolder, or still packed in `cifar-10-binary.tar.gz`, and downloads that archive (MD5-checked)
 * when it is missing and the network allows.
 */
import {readFile, stat} from 'node:fs/promises';
import {join, resolve} from 'node:path';
import type {Dataset} from './dataset.js';
import {DataError} from './data-error.js';
import {downloadFile, type DownloadProgress} from './download.js';
import {readTarGz, TarFormatError} from './tar-gz.js';

/** MTT's CIFAR-10 normalisation (mtt-distillation utils.py): applied after scaling pixels to [0,1]. */
export const CIFAR10_MEAN: readonly number[] = [0.4914, 0.4822, 0.4465];
/** See `CIFAR10_MEAN`. */
export const CIFAR10_STD: readonly number[] = [0.2023, 0.1994, 0.201];

/** Class names in label order (from the archive's `batches.meta.txt`). */
export const CIFAR10_CLASSES: readonly string[] = [
  'airplane',
  'automobile',
  'bird',
  'cat',
  'deer',
  'dog',
  'frog',
  'horse',
  'ship',
  'truck',
];

/** Where the official archive lives, and its published MD5. */
export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';
/** See `CIFAR10_URL`. */
export const CIFAR10_MD5 = 'c32a1d4ab5d03f1284b67883e8d87530';
/** The archive's file name, and the folder inside it. */
export const CIFAR10_ARCHIVE = 'cifar-10-binary.tar.gz';
/** See `CIFAR10_ARCHIVE`. */
export const CIFAR10_SUBFOLDER = 'cifar-10-batches-bin';
/** Batch files of each split. */
export const CIFAR10_FILES = {
  train: ['data_batch_1.bin', 'data_batch_2.bin', 'data_batch_3.bin', 'data_batch_4.bin', 'data_batch_5.bin'],
  test: ['test_batch.bin'],
} as const;

/** Env variable naming the default folder. */
export const CIFAR10_ENV = 'DISTILLERY_CIFAR10';
/** The default folder when neither `root` nor the env variable is given (relative to the working directory). */
export const CIFAR10_DEFAULT_ROOT = 'data/cifar-10';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;

/** Options of `loadCifar10`. */
export interface Cifar10Options {
  readonly split: 'train' | 'test';
  /** Folder with the files (default: env `DISTILLERY_CIFAR10`, else `data/cifar-10`). */
  readonly root?: string;
  /** Keep only the first `limit` images of the split (quick runs and tests). */
  readonly limit?: number;
  /** Download the archive when no files are found (default true). */
  readonly download?: boolean;
  /** Archive URL and MD5 (tests point these at a local server). */
  readonly url?: string;
  readonly md5?: string;
  readonly onDownloadProgress?: (progress: DownloadProgress) => void;
  readonly signal?: AbortSignal;
  readonly env?: NodeJS.ProcessEnv;
}

/** The folder `loadCifar10` reads when given `options`. */
export function cifar10Root(options: Pick<Cifar10Options, 'root' | 'env'> = {}): string {
  const env = options.env ?? process.env;
  return resolve(options.root ?? (env[CIFAR10_ENV] || CIFAR10_DEFAULT_ROOT));
}

/**
 * Loads one split of CIFAR-10, normalised with `CIFAR10_MEAN`/`CIFAR10_STD`, NHWC.
 * Throws `DataError`: `data-missing` (message says where to put which files), `data-corrupt`, or
 * `download-checksum-mismatch`.
 */
export async function loadCifar10(options: Cifar10Options): Promise<Dataset> {
  const root = cifar10Root(options);
  const names = CIFAR10_FILES[options.split];
  let batches = await readLooseBatches(root, names, options.limit);
  if (batches === undefined) {
    const archive = join(root, CIFAR10_ARCHIVE);
    let downloadError: string | undefined;
    if (!(await exists(archive)) && options.download !== false) {
      try {
        await downloadFile(options.url ?? CIFAR10_URL, archive, {
          md5: options.md5 ?? CIFAR10_MD5,
          ...(options.onDownloadProgress === undefined ? {} : {onProgress: options.onDownloadProgress}),
          ...(options.signal === undefined ? {} : {signal: options.signal}),
        });
      } catch (error) {
        if (error instanceof DataError) throw error;
        downloadError = error instanceof Error ? error.message : String(error);
      }
    }
    if (await exists(archive)) batches = await readArchiveBatches(archive, names);
    else throw missing(root, downloadError);
  }
  return decodeBatches(batches, options.limit);
}

/** One batch file's bytes and where they came from (for error messages). */
export interface Cifar10Batch {
  readonly file: string;
  readonly bytes: Uint8Array;
}

/**
 * Decodes batch files (3073-byte records, channel-major) into a normalised NHWC data set, keeping the first `limit`
 * records overall. Exported for callers that already hold the bytes.
 */
export function decodeBatches(batches: readonly Cifar10Batch[], limit?: number): Dataset {
  let total = 0;
  for (const batch of batches) {
    if (batch.bytes.length % RECORD !== 0 || batch.bytes.length === 0) {
      throw new DataError({
        reason: 'data-corrupt',
        dataset: 'CIFAR-10',
        file: batch.file,
        detail: `${batch.bytes.length} bytes is not a whole number of ${RECORD}-byte records`,
      });
    }
    total += batch.bytes.length / RECORD;
  }
  const n = limit === undefined ? total : Math.min(total, Math.max(0, Math.floor(limit)));
  const x = new Float32Array(n * PLANE * 3);
  const y = new Int32Array(n);
  // Per-channel lookup tables: 256 values each, so the hot loop is a table read instead of a divide.
  const tables = CIFAR10_MEAN.map((m, c) =>
    Float32Array.from({length: 256}, (_, v) => (v / 255 - m) / (CIFAR10_STD[c] ?? 1)),
  );
  let i = 0;
  for (const batch of batches) {
    const src = batch.bytes;
    const records = src.length / RECORD;
    for (let r = 0; r < records && i < n; r++, i++) {
      const base = r * RECORD;
      const label = src[base] ?? 0;
      if (label >= CIFAR10_CLASSES.length) {
        throw new DataError({
          reason: 'data-corrupt',
          dataset: 'CIFAR-10',
          file: batch.file,
          detail: `record ${r} has label ${label}, expected 0..9`,
        });
      }
      y[i] = label;
      const out = i * PLANE * 3;
      for (let c = 0; c < 3; c++) {
        const table = tables[c] as Float32Array;
        const plane = base + 1 + c * PLANE;
        for (let p = 0; p < PLANE; p++) x[out + p * 3 + c] = table[src[plane + p] as number] as number;
      }
    }
  }
  return {
    x,
    y,
    n,
    height: SIDE,
    width: SIDE,
    channels: 3,
    classes: CIFAR10_CLASSES.length,
    classNames: CIFAR10_CLASSES,
    mean: CIFAR10_MEAN,
    std: CIFAR10_STD,
  };
}

/**
 * The batches from `root` or `root/cifar-10-batches-bin` (the first folder that has all of them), or undefined.
 * Files are read in order and reading stops once `limit` records are in, so quick runs do not read 150 MB.
 */
async function readLooseBatches(
  root: string,
  names: readonly string[],
  limit: number | undefined,
): Promise<Cifar10Batch[] | undefined> {
  for (const folder of [root, join(root, CIFAR10_SUBFOLDER)]) {
    const files = names.map((name) => join(folder, name));
    const present = await Promise.all(files.map(exists));
    if (!present.every(Boolean)) continue;
    const batches: Cifar10Batch[] = [];
    let records = 0;
    for (const file of files) {
      if (limit !== undefined && records >= limit && batches.length > 0) break;
      const bytes = new Uint8Array(await readFile(file));
      batches.push({file, bytes});
      records += Math.floor(bytes.length / RECORD);
    }
    return batches;
  }
  return undefined;
}

async function readArchiveBatches(archive: string, names: readonly string[]): Promise<Cifar10Batch[]> {
  const wanted = new Set(names);
  let members;
  try {
    members = await readTarGz(archive, (name) => wanted.has(name.split('/').pop() ?? ''));
  } catch (error) {
    const detail = error instanceof TarFormatError || error instanceof Error ? error.message : String(error);
    throw new DataError({reason: 'data-corrupt', dataset: 'CIFAR-10', file: archive, detail});
  }
  return names.map((name) => {
    const member = members.find((m) => (m.name.split('/').pop() ?? '') === name);
    if (member === undefined) {
      throw new DataError({
        reason: 'data-corrupt',
        dataset: 'CIFAR-10',
        file: archive,
        detail: `the archive has no ${name}`,
      });
    }
    return {file: `${archive}:${member.name}`, bytes: member.data};
  });
}

function missing(root: string, downloadError: string | undefined): DataError {
  const all = [...CIFAR10_FILES.train, ...CIFAR10_FILES.test];
  return new DataError(
    {
      reason: 'data-missing',
      dataset: 'CIFAR-10',
      searched: [root, join(root, CIFAR10_SUBFOLDER), join(root, CIFAR10_ARCHIVE)],
      expected: all,
      ...(downloadError === undefined ? {} : {downloadError}),
    },
    `Fix: download ${CIFAR10_URL} (MD5 ${CIFAR10_MD5}) and put ${CIFAR10_ARCHIVE} in ${root}, or unpack it there ` +
      `(the .bin files directly in ${root} or in ${join(root, CIFAR10_SUBFOLDER)}); ` +
      `choose another folder with the root option or ${CIFAR10_ENV}.`,
  );
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isFile();
  } catch {
    return false;
  }
}
