/**
 * The object-store seam under a remote cache: a flat namespace of slash-separated paths holding immutable bytes, the
 * only thing a shared folder, an S3 bucket and an HTTP cache (GET/HEAD/PUT, as Bazel and ccache caches speak) have in
 * common. The entry protocol (files first, manifest last, verification on download) is written once on top of it, in
 * remote-store.ts, so every backend gets the same integrity guarantees.
 */
import type {Readable} from 'node:stream';

/**
 * Why a remote operation failed, so callers can decide what to do:
 * - `unavailable`: the remote did not answer, timed out or answered 5xx after the bounded retries; a run goes on
 *   computing locally.
 * - `refused`: the remote answered but will not serve us (401/403, no credentials); retrying cannot help.
 * - `failed`: anything else (an unexpected status, a server that cannot list folders).
 */
export type RemoteFailureKind = 'unavailable' | 'refused' | 'failed';

/** A remote failure. Its message is shown to users, so it never carries credentials (see secrets.ts). */
export class RemoteError extends Error {
  readonly kind: RemoteFailureKind;

  constructor(kind: RemoteFailureKind, message: string) {
    super(message);
    this.name = 'RemoteError';
    this.kind = kind;
  }
}

/** The kind of a thrown value, for code that must classify anything a backend threw. */
export function failureKind(error: unknown): RemoteFailureKind {
  return error instanceof RemoteError ? error.kind : 'failed';
}

/** What to upload: a local file (streamed, never read into memory) or a small buffer (a manifest, a run record). */
export type ObjectBody = {readonly file: string; readonly size: number} | {readonly bytes: Uint8Array};

/** The names directly under a folder path. */
export interface Listing {
  /** Object names (no slash). */
  readonly files: readonly string[];
  /** Sub-folder names (no slash). */
  readonly folders: readonly string[];
}

/** Timeouts and retries shared by the network backends. */
export interface TransferPolicy {
  /** How long the remote may stay silent (connecting, before answering, or in the middle of a transfer). */
  readonly timeoutMs: number;
  /** Extra attempts after a transient failure (network error, timeout, 5xx, 429). */
  readonly retries: number;
}

/** The default policy: 30 s of silence is a dead remote; two retries with backoff. */
export const DEFAULT_TRANSFER_POLICY: TransferPolicy = {timeoutMs: 30_000, retries: 2};

/** A flat object store. Paths are relative, forward-slash, built by remote-store.ts from validated parts. */
export interface ObjectBackend {
  /** `folder`, `s3` or `http`. */
  readonly kind: 'folder' | 's3' | 'http';
  /** Where it is, for messages: never with credentials. */
  readonly location: string;
  /** The object's bytes as a stream, or undefined when there is no such object. */
  read(path: string): Promise<Readable | undefined>;
  /** The object's size, or undefined when there is no such object. */
  size(path: string): Promise<number | undefined>;
  /**
   * Stores an object, replacing any previous one; readers see the old or the new bytes, never a mix (a rename for a
   * folder, a single PUT for S3 and HTTP).
   */
  write(path: string, body: ObjectBody): Promise<void>;
  /** Removes an object; a missing one is fine. */
  remove(path: string): Promise<void>;
  /** The names directly under `folder` (empty when it does not exist). Throws `failed` when the backend cannot list. */
  list(folder: string): Promise<Listing>;
  /** Releases connections. */
  close(): void;
}
