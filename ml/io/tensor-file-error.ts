/**
 * The typed failure of the tensor file readers (safetensors, .npy/.npz).
 *
 * Files come from other tools and other runs, so a bad file is an expected failure: readers throw this error, whose
 * `failure` value names the format and what is wrong, instead of returning garbage arrays.
 */

/** A tensor file that does not follow its format, or uses a feature this reader does not support. */
export interface TensorFileInvalid {
  readonly reason: 'tensor-file-invalid';
  readonly format: 'safetensors' | 'npy' | 'npz';
  /** The file, when reading from disk; the member name inside an archive is appended (`file:x.npy`). */
  readonly file?: string;
  readonly detail: string;
}

/** The error thrown by the readers in `ml/io`. */
export class TensorFileError extends Error {
  readonly failure: TensorFileInvalid;

  constructor(failure: TensorFileInvalid) {
    super(`${failure.format}${failure.file === undefined ? '' : ` ${failure.file}`}: ${failure.detail}`);
    this.name = 'TensorFileError';
    this.failure = failure;
  }
}
