/**
 * Typed failures of the data loaders.
 *
 * Loading data fails for expected reasons (files not there yet, a truncated download, a wrong file in the folder), and a
 * node or the CLI wants to tell the user how to fix each one, so every failure is a variant keyed by `reason` with the
 * fields a fix needs. Loaders are async and deep in parsing code, so they throw a `DataError` that carries the typed
 * value; callers switch on `error.failure.reason` rather than on message text.
 */

/** A data set's files are not where the loader looked. `message` says which files to put where (or what to install). */
export interface DataMissing {
  readonly reason: 'data-missing';
  readonly dataset: string;
  /** The folders that were searched, in order. */
  readonly searched: readonly string[];
  /** The file names that were expected. */
  readonly expected: readonly string[];
  /** Why a download was not done or did not work (absent when downloads were not attempted). */
  readonly downloadError?: string;
}

/** A file exists but its content is not what the format says (bad magic number, wrong size, label out of range). */
export interface DataCorrupt {
  readonly reason: 'data-corrupt';
  readonly dataset: string;
  readonly file: string;
  readonly detail: string;
}

/** A download finished but its MD5 differs from the published one; nothing was kept. */
export interface DownloadChecksumMismatch {
  readonly reason: 'download-checksum-mismatch';
  readonly url: string;
  readonly expectedMd5: string;
  readonly actualMd5: string;
}

/** A subset asked for more images of a class than the data set has. */
export interface NotEnoughImages {
  readonly reason: 'not-enough-images';
  readonly classIndex: number;
  readonly wanted: number;
  readonly available: number;
}

/** Every expected failure of `ml/data`. */
export type DataFailure = DataMissing | DataCorrupt | DownloadChecksumMismatch | NotEnoughImages;

/** Renders a failure as one message that says what is wrong and how to fix it. */
export function describeDataFailure(failure: DataFailure): string {
  switch (failure.reason) {
    case 'data-missing': {
      const where = failure.searched.join(', ');
      const files = failure.expected.join(', ');
      const download = failure.downloadError === undefined ? '' : ` (download failed: ${failure.downloadError})`;
      return `${failure.dataset}: data not found${download}. Looked in: ${where}. Expected files: ${files}.`;
    }
    case 'data-corrupt':
      return `${failure.dataset}: ${failure.file} is corrupt: ${failure.detail}. Delete it and fetch the official file again.`;
    case 'download-checksum-mismatch':
      return (
        `download of ${failure.url} has MD5 ${failure.actualMd5}, expected ${failure.expectedMd5}; ` +
        'the partial file was removed, try again or download it by hand'
      );
    case 'not-enough-images':
      return `class ${failure.classIndex} has ${failure.available} images, ${failure.wanted} were asked for`;
    default:
      return unreachable(failure);
  }
}

/** The error loaders throw for expected failures; `failure` is the typed value, `message` a rendered hint. */
export class DataError extends Error {
  readonly failure: DataFailure;

  constructor(failure: DataFailure, hint?: string) {
    super(hint === undefined ? describeDataFailure(failure) : `${describeDataFailure(failure)} ${hint}`);
    this.name = 'DataError';
    this.failure = failure;
  }
}

/** Exhaustiveness guard for switches over unions. */
function unreachable(value: never): never {
  throw new Error(`Internal error: unexpected value ${JSON.stringify(value)}`);
}
