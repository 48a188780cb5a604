/**
 * Downloads one file with an MD5 check, atomically.
 *
 * The bytes go to a temporary file next to the target and are renamed into place only after the checksum matched, so a
 * crash, an abort or a truncated transfer never leaves a file that a later run would trust.
 */
import {createHash, randomBytes} from 'node:crypto';
import {mkdir, open, rename, rm} from 'node:fs/promises';
import {basename, dirname, join} from 'node:path';
import {DataError} from './data-error.js';

/** Progress of a running download. `totalBytes` is undefined when the server sent no length. */
export interface DownloadProgress {
  readonly receivedBytes: number;
  readonly totalBytes: number | undefined;
}

/** Options of `downloadFile`. */
export interface DownloadOptions {
  /** Lower-case hex MD5 the file must have. */
  readonly md5: string;
  readonly onProgress?: (progress: DownloadProgress) => void;
  readonly signal?: AbortSignal;
}

/**
 * Fetches `url` into `target`. Resolves when the file is in place. Network and HTTP errors reject with a plain Error
 * (the caller turns them into its `data-missing` hint); a checksum mismatch rejects with a `DataError`.
 */
export async function downloadFile(url: string, target: string, options: DownloadOptions): Promise<void> {
  await mkdir(dirname(target), {recursive: true});
  const temp = join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.part`);
  const response = await fetch(url, options.signal === undefined ? {} : {signal: options.signal});
  if (!response.ok || response.body === null) {
    throw new Error(`HTTP ${response.status} ${response.statusText} for ${url}`);
  }
  const lengthHeader = response.headers.get('content-length');
  const totalBytes = lengthHeader === null ? undefined : Number(lengthHeader);
  const hash = createHash('md5');
  const file = await open(temp, 'w');
  let receivedBytes = 0;
  try {
    for await (const chunk of response.body) {
      hash.update(chunk);
      await file.write(chunk);
      receivedBytes += chunk.length;
      options.onProgress?.({receivedBytes, totalBytes});
    }
    await file.sync();
    await file.close();
    const actualMd5 = hash.digest('hex');
    if (actualMd5 !== options.md5.toLowerCase()) {
      throw new DataError({reason: 'download-checksum-mismatch', url, expectedMd5: options.md5, actualMd5});
    }
    await rename(temp, target);
  } catch (error) {
    await file.close().catch(() => undefined);
    await rm(temp, {force: true});
    throw error;
  }
}
