/**
 * The manifest of one cache entry: the single file that makes a folder a valid entry, and what a hit is checked against.
 */

/** How one output port of an entry was written. */
export interface ManifestOutput {
  /** `json`: the value is in `file` as JSON; `file`: `file` is the artifact itself (its path is handed to consumers). */
  readonly format: 'json' | 'file';
  /** Path relative to the entry folder (forward slashes). */
  readonly file: string;
}

/** One artifact file of an entry. */
export interface ManifestFile {
  /** Path relative to the entry folder (forward slashes). */
  readonly path: string;
  readonly size: number;
  /** xxhash64 of the content, 16 lowercase hex digits. */
  readonly hash: string;
}

/** Who produced an entry (for `cache ls` and provenance). */
export interface Producer {
  readonly nodeId: string;
  readonly type: string;
  readonly host: string;
  readonly distilleryVersion: string;
}

/** When and how long the producing node ran. */
export interface Timings {
  readonly startedAt: string;
  readonly seconds: number;
}

/** The `manifest.json` of an entry. */
export interface Manifest {
  /** Format version of this file; an unknown version reads as a bad entry. */
  readonly version: 1;
  readonly key: string;
  readonly files: readonly ManifestFile[];
  /** Output port -> where it is. */
  readonly outputs: Readonly<Record<string, ManifestOutput>>;
  readonly metrics: Readonly<Record<string, number>>;
  readonly timings: Timings;
  readonly producer: Producer;
  readonly createdAt: string;
}

/** The name of the manifest file inside an entry folder. */
export const MANIFEST_FILE = 'manifest.json';

const DRIVE = /^[A-Za-z]:/;
const UNSAFE_CHARACTER = /[\\\u0000-\u001f]/;

/**
 * Why `path` cannot name a file inside an entry folder, or undefined when it can: a relative, forward-slash path of
 * plain segments. Absolute paths, `..`, `.`, empty segments, backslashes and control characters are refused, so a
 * manifest (local, or downloaded from a remote someone else writes to) can never make a reader or a download touch a
 * file outside the entry.
 */
export function entryPathProblem(path: string): string | undefined {
  if (path === '' || path.length > 1024) return 'is empty or too long';
  if (path.startsWith('/') || DRIVE.test(path)) return 'is absolute';
  if (UNSAFE_CHARACTER.test(path)) return 'has a backslash or a control character';
  // Most entries name their files without folders: then the path is its only segment.
  const segments = path.includes('/') ? path.split('/') : [path];
  if (segments.includes('..')) return 'escapes the entry';
  if (segments.some((s) => s === '' || s === '.')) return 'has an empty or "." segment';
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The producer fields a reader formats or sorts by (`cache ls` sorts by node id). */
const PRODUCER_FIELDS = ['nodeId', 'type', 'host', 'distilleryVersion'] as const;

/**
 * Checks the shape of a parsed manifest, so that a truncated or hand-edited file is a miss rather than a crash later.
 * Returns the reason it is bad, or the manifest.
 *
 * A cached run checks every hit's manifest, thousands of them in a process that lives a fraction of a second, mostly
 * before V8 has optimized anything: hence loops over keys rather than `Object.entries`, and no set for an entry of
 * one file.
 */
export function checkManifest(value: unknown, key: string): Manifest | string {
  if (!isRecord(value)) return 'manifest is not an object';
  if (value['version'] !== 1) return `unknown manifest version ${JSON.stringify(value['version'])}`;
  if (value['key'] !== key) return `manifest is for key ${JSON.stringify(value['key'])}`;
  const files = value['files'];
  if (!Array.isArray(files)) return 'manifest has no file list';
  for (const f of files as unknown[]) {
    if (!isRecord(f) || typeof f['path'] !== 'string' || typeof f['size'] !== 'number' || typeof f['hash'] !== 'string') {
      return 'manifest has a malformed file record';
    }
    const escape = entryPathProblem(f['path']);
    if (escape !== undefined) return `manifest file path ${JSON.stringify(f['path'])} ${escape}`;
  }
  const listed = files as ManifestFile[];
  if (listed.length > 1 && new Set(listed.map((f) => f.path)).size !== listed.length) return 'manifest lists a file twice';
  const outputs = value['outputs'];
  if (!isRecord(outputs)) return 'manifest has no outputs';
  for (const port in outputs) {
    if (!Object.hasOwn(outputs, port)) continue;
    const out = outputs[port];
    if (!isRecord(out) || (out['format'] !== 'json' && out['format'] !== 'file') || typeof out['file'] !== 'string') {
      return `manifest output '${port}' is malformed`;
    }
    const file = out['file'];
    if (!listed.some((f) => f.path === file)) return `manifest output '${port}' names an unlisted file`;
  }
  const metrics = value['metrics'];
  if (!isRecord(metrics)) return 'manifest has no metrics';
  for (const name in metrics) {
    if (Object.hasOwn(metrics, name) && typeof metrics[name] !== 'number') return `manifest metric '${name}' is not a number`;
  }
  const timings = value['timings'];
  const producer = value['producer'];
  if (!isRecord(timings) || !isRecord(producer)) return 'manifest has no timings or producer';
  if (typeof timings['startedAt'] !== 'string' || typeof timings['seconds'] !== 'number') return 'manifest timings are malformed';
  for (const field of PRODUCER_FIELDS) {
    if (typeof producer[field] !== 'string') return `manifest producer field '${field}' is not a string`;
  }
  if (typeof value['createdAt'] !== 'string' || Number.isNaN(Date.parse(value['createdAt']))) return 'manifest has no creation time';
  return value as unknown as Manifest;
}
