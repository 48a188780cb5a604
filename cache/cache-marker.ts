/**
 * The marker that makes a folder a distillery cache, and the check every opening goes through.
 *
 * A cache folder carries `CACHEDIR.TAG` (the Cache Directory Tagging format, so backup tools skip it) and
 * `distillery-cache.json` (the layout's format version). Only a marked folder is ever cleaned, repaired or collected:
 * pointing `--cache-dir` at a home folder or a data folder must never delete anything there. A folder may become a
 * cache only when it is new or empty. Caches written before the marker existed are recognised by their exact layout
 * (nothing at the top but `tmp/`, `locks/` and two-character shard folders) and get the marker on their first
 * opening for writing.
 */
import {lstat, readdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';

/** The Cache Directory Tagging file name. */
export const CACHEDIR_TAG = 'CACHEDIR.TAG';
/** The file holding the cache format version. */
export const VERSION_FILE = 'distillery-cache.json';
/** The layout version this code reads and writes. */
export const CACHE_FORMAT = 1;

/** The spec requires these exact 43 bytes at the start of the tag file. */
const TAG_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';
const TAG_TEXT =
  `${TAG_SIGNATURE}\n` +
  '# This file is a cache directory tag created by distillery (a cache of computed node outputs).\n' +
  '# For information about cache directory tags, see https://bford.info/cachedir/\n';

/** Why a folder cannot be used as a cache. */
export type CacheFolderReason = 'not-a-directory' | 'not-a-cache' | 'unsupported-version' | 'unreadable';

/** A refusal: what is wrong with the folder and what to do. */
export interface CacheFolderProblem {
  readonly reason: CacheFolderReason;
  readonly path: string;
  readonly message: string;
  readonly hint: string;
}

/** Thrown by `LocalStore.open` for a folder that must not be used as a cache; `tryOpen` returns it as a value. */
export class CacheFolderError extends Error {
  readonly problem: CacheFolderProblem;

  constructor(problem: CacheFolderProblem) {
    super(problem.message);
    this.name = 'CacheFolderError';
    this.problem = problem;
  }
}

/** What a folder is, before opening it. */
export type CacheFolderState =
  /** Does not exist: a cache may be created there. */
  | {readonly kind: 'missing'}
  /** Exists and holds nothing, or only (possibly half-written) marker files: a cache may be created there. */
  | {readonly kind: 'new'}
  /** A marked cache of the current format. */
  | {readonly kind: 'marked'}
  /** An unmarked cache written before the marker existed, recognised by its layout. */
  | {readonly kind: 'legacy'}
  | {readonly kind: 'refused'; readonly problem: CacheFolderProblem};

const MARKER_NAMES: ReadonlySet<string> = new Set([CACHEDIR_TAG, VERSION_FILE]);
/** What a pre-marker cache held at its top level. */
const LEGACY_DIRS: ReadonlySet<string> = new Set(['tmp', 'locks']);
const SHARD = /^[0-9a-z]{2}$/i;

function code(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

function refused(reason: CacheFolderReason, path: string, message: string, hint: string): CacheFolderState {
  return {kind: 'refused', problem: {reason, path, message, hint}};
}

async function readMarker(root: string): Promise<{tag: string | undefined; version: unknown}> {
  const [tag, version] = await Promise.all([
    readFile(join(root, CACHEDIR_TAG), 'utf8').catch(() => undefined),
    readFile(join(root, VERSION_FILE), 'utf8').then(
      (text) => {
        try {
          return JSON.parse(text) as unknown;
        } catch {
          return undefined;
        }
      },
      () => undefined,
    ),
  ]);
  return {tag, version};
}

/** True when `names` (the top level of an unmarked folder) is exactly what an old version's cache looked like. */
async function looksLegacy(root: string, names: readonly string[]): Promise<boolean> {
  if (![...LEGACY_DIRS].every((d) => names.includes(d))) return false;
  if (!names.every((n) => LEGACY_DIRS.has(n) || SHARD.test(n))) return false;
  const kinds = await Promise.all(names.map((n) => lstat(join(root, n)).then((s) => s.isDirectory(), () => false)));
  return kinds.every(Boolean);
}

/** Looks at `root` (without changing anything) and says what it is. */
export async function inspectCacheFolder(root: string): Promise<CacheFolderState> {
  try {
    const info = await lstat(root);
    // A symlink to a folder is fine (caches on another disk); what it points to is checked below.
    if (!info.isDirectory() && !info.isSymbolicLink()) {
      return refused('not-a-directory', root, `the cache location ${root} is a file, not a folder`, 'give --cache-dir (or DISTILLERY_CACHE) a folder');
    }
  } catch (error) {
    if (code(error) === 'ENOENT') return {kind: 'missing'};
    return refused('unreadable', root, `cannot read the cache folder ${root} (${code(error) ?? String(error)})`, 'check the path and its permissions');
  }
  let names: string[];
  try {
    names = await readdir(root);
  } catch (error) {
    if (code(error) === 'ENOTDIR') {
      return refused('not-a-directory', root, `the cache location ${root} is not a folder`, 'give --cache-dir (or DISTILLERY_CACHE) a folder');
    }
    return refused('unreadable', root, `cannot read the cache folder ${root} (${code(error) ?? String(error)})`, 'check the path and its permissions');
  }
  const {tag, version} = await readMarker(root);
  const format = (version as {format?: unknown} | undefined)?.format;
  if (tag?.startsWith(TAG_SIGNATURE) === true && typeof format === 'number') {
    if (format === CACHE_FORMAT) return {kind: 'marked'};
    return refused(
      'unsupported-version',
      root,
      `the cache ${root} has format ${format}; this distillery reads format ${CACHE_FORMAT}`,
      format > CACHE_FORMAT ? 'use the distillery version that made it, or another --cache-dir' : 'use another --cache-dir',
    );
  }
  if (names.every((n) => MARKER_NAMES.has(n))) return {kind: 'new'};
  if (tag === undefined && version === undefined && (await looksLegacy(root, names))) return {kind: 'legacy'};
  const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, ... (${names.length} in all)` : '');
  return refused(
    'not-a-cache',
    root,
    `${root} is not a distillery cache (it has no ${CACHEDIR_TAG} and ${VERSION_FILE}) and is not empty (${shown}); nothing was changed there`,
    'point --cache-dir (or DISTILLERY_CACHE) at a new or empty folder: distillery only creates a cache where it cannot destroy anything',
  );
}

/** Writes the marker files (both idempotent: concurrent creators write the same bytes). */
export async function writeMarker(root: string): Promise<void> {
  await writeFile(join(root, VERSION_FILE), JSON.stringify({format: CACHE_FORMAT}) + '\n');
  await writeFile(join(root, CACHEDIR_TAG), TAG_TEXT);
}
