/**
 * A remote cache: cache entries and run records kept in an object backend (a shared folder, S3, HTTP), shared by
 * every machine that points at it. This is what `push`, `pull`, read- and write-through runs and (later) workers on
 * other machines use: `fetch` brings one entry into a local cache, `publish` sends one there.
 *
 * Layout under the remote's base:
 *   `v1/entries/<key>/<hash>-<size>`  the files of an entry, named by content (xxhash64 and size)
 *   `v1/entries/<key>/manifest.json`  the entry's manifest, the same JSON as in a local entry; written last
 *   `v1/runs/<pipeline>/<run-id>.json`  run summaries (`.distillery/runs/<run-id>/summary.json`)
 *
 * Integrity rules:
 * - The manifest is the commit: it is uploaded only after every file it lists, so an interrupted push leaves files
 *   no reader looks at, and a retry uploads only what is missing.
 * - Files are named by their content, so two machines pushing one key at once never overwrite each other's files with
 *   different bytes: whichever manifest lands last names files that are all there.
 * - A download goes into a staging folder of the local cache, is hashed on the way, and is committed (atomically, by
 *   the local store) only when every file matches the manifest; a manifest naming a path outside the entry is refused.
 */
import {createReadStream, createWriteStream} from 'node:fs';
import {lstat, mkdir} from 'node:fs/promises';
import {dirname, join, relative, resolve, sep} from 'node:path';
import {Transform, Writable} from 'node:stream';
import {pipeline} from 'node:stream/promises';
import {hex64, xxhashApi} from './content-hash.js';
import {checkManifest, MANIFEST_FILE} from './manifest.js';
import type {Manifest, ManifestFile} from './manifest.js';
import type {ObjectBackend, RemoteFailureKind} from './remote-backend.js';
import {failureKind, RemoteError} from './remote-backend.js';
import {redact} from './secrets.js';
import {unreachable} from './unreachable.js';
import type {CacheEntry, CacheStore} from './store.js';

const ENTRIES = 'v1/entries';
const RUNS = 'v1/runs';
const KEY_PATTERN = /^[0-9a-z][0-9a-z_-]{2,127}$/i;
const RUN_ID_PATTERN = /^[0-9A-Za-z][0-9A-Za-z_.-]{0,127}$/;

/** A remote operation that could not be done: its kind (see RemoteFailureKind) and a credential-free message. */
export interface RemoteFailure {
  readonly status: 'failed';
  readonly kind: RemoteFailureKind;
  readonly reason: string;
}

/** What a remote holds for a key. */
export type RemoteLookup =
  | {readonly status: 'present'; readonly manifest: Manifest}
  | {readonly status: 'absent'}
  /** A manifest that cannot be used (garbled, for another key, or naming a path outside the entry). */
  | {readonly status: 'bad'; readonly reason: string}
  | RemoteFailure;

/** What `fetch` did. */
export type FetchOutcome =
  | {readonly status: 'fetched'; readonly entry: CacheEntry; readonly bytes: number}
  | {readonly status: 'absent'}
  /** The remote entry does not match its manifest (or the manifest is bad); nothing was committed locally. */
  | {readonly status: 'bad'; readonly reason: string}
  | RemoteFailure;

/** What `publish` did. */
export type PublishOutcome =
  | {readonly status: 'published'; readonly bytes: number}
  /** A valid entry for the key was there already; nothing was uploaded. */
  | {readonly status: 'present'}
  /** The local entry is damaged (a file changed since its commit, or is not a regular file); nothing was published. */
  | {readonly status: 'bad'; readonly reason: string}
  | RemoteFailure;

function failure(error: unknown, env: NodeJS.ProcessEnv): RemoteFailure {
  const message = error instanceof Error ? error.message : String(error);
  return {status: 'failed', kind: failureKind(error), reason: redact(message, env)};
}

/** The object name of a file of an entry: by content, so concurrent pushers of one key never clash. */
function blobName(file: ManifestFile): string {
  return `${file.hash}-${file.size}`;
}

/** A stream stage that hashes (xxhash64) and counts what passes through. */
async function hashingStage(): Promise<{stage: Transform; digest: () => {hash: string; size: number}}> {
  const hasher = (await xxhashApi()).create64();
  let size = 0;
  const stage = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hasher.update(chunk);
      size += chunk.length;
      done(null, chunk);
    },
  });
  return {stage, digest: () => ({hash: hex64(hasher.digest()), size})};
}

/**
 * The backend path of object `name` (`manifest.json`, or a file's `<hash>-<size>`) of entry `key`: the layout above,
 * exported for tools and tests that inspect a remote.
 */
export function entryObject(key: string, name: string): string {
  if (!KEY_PATTERN.test(key)) throw new Error(`Internal error: malformed cache key ${JSON.stringify(key)}`);
  return `${ENTRIES}/${key}/${name}`;
}

/** The object name of a manifest file record. */
export function blobObjectName(file: ManifestFile): string {
  return blobName(file);
}

/** A stream end that drops what it gets (for reading only to hash). */
function sink(): Writable {
  return new Writable({write: (_chunk, _encoding, done) => done()});
}

/** One remote cache. */
export class RemoteStore {
  /** The remote's name in the project config (or its address when given ad hoc), for messages. */
  readonly name: string;
  readonly backend: ObjectBackend;
  readonly #env: NodeJS.ProcessEnv;

  constructor(name: string, backend: ObjectBackend, env: NodeJS.ProcessEnv = process.env) {
    this.name = name;
    this.backend = backend;
    this.#env = env;
  }

  /** Where it is, for messages (never with credentials). */
  get location(): string {
    return this.backend.location;
  }

  #entryPath(key: string, name: string): string {
    return entryObject(key, name);
  }

  /** Reads and checks the manifest of `key`. */
  async lookup(key: string): Promise<RemoteLookup> {
    let text: string;
    try {
      const stream = await this.backend.read(this.#entryPath(key, MANIFEST_FILE));
      if (stream === undefined) return {status: 'absent'};
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      text = Buffer.concat(chunks).toString('utf8');
    } catch (error) {
      return failure(error, this.#env);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return {status: 'bad', reason: 'manifest is not valid JSON'};
    }
    const manifest = checkManifest(parsed, key);
    return typeof manifest === 'string' ? {status: 'bad', reason: manifest} : {status: 'present', manifest};
  }

  /**
   * Downloads the entry of `key` into `local` through a staging folder, checking every file against the manifest
   * before committing. `known` skips the manifest request when the caller has just read it.
   */
  async fetch(key: string, local: CacheStore, known?: Manifest): Promise<FetchOutcome> {
    let manifest = known;
    if (manifest === undefined) {
      const found = await this.lookup(key);
      if (found.status !== 'present') return found;
      manifest = found.manifest;
    }
    const staging = await local.stage(key);
    let bytes = 0;
    try {
      for (const file of manifest.files) {
        const target = resolve(staging.dir, ...file.path.split('/'));
        // checkManifest already refused such paths; this guards the write itself.
        const rel = relative(staging.dir, target);
        if (rel.startsWith('..') || rel.split(sep).includes('..')) {
          await staging.discard();
          return {status: 'bad', reason: `manifest file path ${JSON.stringify(file.path)} escapes the entry`};
        }
        const source = await this.backend.read(this.#entryPath(key, blobName(file)));
        if (source === undefined) {
          await staging.discard();
          return {status: 'bad', reason: `${file.path}: its content (${blobName(file)}) is missing on the remote`};
        }
        await mkdir(dirname(target), {recursive: true});
        const {stage, digest} = await hashingStage();
        await pipeline(source, stage, createWriteStream(target, {flags: 'wx'}));
        const got = digest();
        if (got.size !== file.size || got.hash !== file.hash) {
          await staging.discard();
          return {status: 'bad', reason: `${file.path}: downloaded ${got.size} bytes with hash ${got.hash}, expected ${file.size} bytes with hash ${file.hash}`};
        }
        bytes += got.size;
      }
      const entry = await staging.commit({
        outputs: manifest.outputs,
        metrics: manifest.metrics,
        timings: manifest.timings,
        producer: manifest.producer,
      });
      return {status: 'fetched', entry, bytes};
    } catch (error) {
      await staging.discard().catch(() => undefined);
      // `failed` while reading this entry's files is about the entry (a symlink in a shared folder, an odd status
      // for one object), not about reaching the remote.
      if (error instanceof RemoteError && error.kind === 'failed') return {status: 'bad', reason: redact(error.message, this.#env)};
      if (error instanceof RemoteError) return failure(error, this.#env);
      const code = (error as NodeJS.ErrnoException).code;
      // A stream that broke mid-download is the network's fault; anything else (EEXIST from a manifest listing a
      // path twice, a file where a folder should be) is the entry's.
      if (code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ETIMEDOUT') return failure(new RemoteError('unavailable', String(code)), this.#env);
      return {status: 'bad', reason: redact(error instanceof Error ? error.message : String(error), this.#env)};
    }
  }

  /**
   * Uploads a committed local entry: each file not already there (checking on the way that it still hashes to what
   * its manifest says), then the manifest. Does nothing when the remote already has a valid entry for the key.
   */
  async publish(entry: CacheEntry): Promise<PublishOutcome> {
    const existing = await this.lookup(entry.key);
    if (existing.status === 'present') return {status: 'present'};
    if (existing.status === 'failed') return existing;
    let bytes = 0;
    try {
      for (const file of entry.manifest.files) {
        const full = join(entry.dir, ...file.path.split('/'));
        const info = await lstat(full).catch(() => undefined);
        if (info === undefined || !info.isFile() || info.size !== file.size) {
          const why = info === undefined ? 'missing' : !info.isFile() ? 'not a regular file' : `size ${info.size}, expected ${file.size}`;
          return {status: 'bad', reason: `${file.path}: ${why}`};
        }
        const path = this.#entryPath(entry.key, blobName(file));
        // Left by an interrupted push of this key, or pushed by another machine: content-named, so it is the same.
        if ((await this.backend.size(path)) === file.size) continue;
        // Hashed before it goes up, so a local file damaged since its commit is never published under its old hash.
        const {stage, digest} = await hashingStage();
        await pipeline(createReadStream(full, {highWaterMark: 1 << 20}), stage, sink());
        if (digest().hash !== file.hash) {
          return {status: 'bad', reason: `${file.path}: content changed since it was cached (run \`distillery cache verify --repair\`)`};
        }
        await this.backend.write(path, {file: full, size: file.size});
        bytes += file.size;
      }
      const manifestBytes = Buffer.from(JSON.stringify(entry.manifest, null, 1));
      await this.backend.write(this.#entryPath(entry.key, MANIFEST_FILE), {bytes: manifestBytes});
      return {status: 'published', bytes: bytes + manifestBytes.length};
    } catch (error) {
      return failure(error, this.#env);
    }
  }

  /** Every key with a manifest file on the remote (not checked). */
  async keys(): Promise<string[] | RemoteFailure> {
    try {
      const listing = await this.backend.list(ENTRIES);
      const keys: string[] = [];
      for (const key of listing.folders.filter((k) => KEY_PATTERN.test(k))) {
        if ((await this.backend.size(this.#entryPath(key, MANIFEST_FILE))) !== undefined) keys.push(key);
      }
      return keys;
    } catch (error) {
      return failure(error, this.#env);
    }
  }

  /** Re-downloads every file of `key` (without storing it) and checks it; undefined when the entry is sound. */
  async check(key: string): Promise<string | undefined | RemoteFailure> {
    const found = await this.lookup(key);
    switch (found.status) {
      case 'present':
        break;
      case 'absent':
        return 'no manifest';
      case 'bad':
        return found.reason;
      case 'failed':
        return found;
      default:
        return unreachable(found);
    }
    try {
      for (const file of found.manifest.files) {
        const source = await this.backend.read(this.#entryPath(key, blobName(file)));
        if (source === undefined) return `${file.path}: content missing`;
        const {stage, digest} = await hashingStage();
        await pipeline(source, stage, sink());
        const got = digest();
        if (got.size !== file.size || got.hash !== file.hash) return `${file.path}: content hash ${got.hash} (${got.size} bytes), expected ${file.hash} (${file.size} bytes)`;
      }
      return undefined;
    } catch (error) {
      return failure(error, this.#env);
    }
  }

  /** Removes an entry: the manifest first, so it stops being visible before its files go. */
  async remove(key: string, manifest?: Manifest): Promise<void> {
    await this.backend.remove(this.#entryPath(key, MANIFEST_FILE));
    for (const file of manifest?.files ?? []) await this.backend.remove(this.#entryPath(key, blobName(file))).catch(() => undefined);
  }

  #runPath(pipelineName: string, runId?: string): string {
    const folder = `${RUNS}/${encodeURIComponent(pipelineName).replace(/\./g, '%2E')}`;
    if (runId === undefined) return folder;
    if (!RUN_ID_PATTERN.test(runId)) throw new Error(`Internal error: malformed run id ${JSON.stringify(runId)}`);
    return `${folder}/${runId}.json`;
  }

  /** Uploads a run summary unless it is there already; true when it was uploaded. */
  async putRunRecord(pipelineName: string, runId: string, text: string): Promise<boolean> {
    const path = this.#runPath(pipelineName, runId);
    if ((await this.backend.size(path)) !== undefined) return false;
    await this.backend.write(path, {bytes: Buffer.from(text)});
    return true;
  }

  /** Pipelines with run records (their names as given to putRunRecord). */
  async runPipelines(): Promise<string[]> {
    return (await this.backend.list(RUNS)).folders.map((f) => decodeURIComponent(f));
  }

  /** The run ids recorded for a pipeline. */
  async runIds(pipelineName: string): Promise<string[]> {
    const listing = await this.backend.list(this.#runPath(pipelineName));
    return listing.files.filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -'.json'.length)).filter((id) => RUN_ID_PATTERN.test(id));
  }

  /** The text of a run summary, or undefined. */
  async runRecord(pipelineName: string, runId: string): Promise<string | undefined> {
    const stream = await this.backend.read(this.#runPath(pipelineName, runId));
    if (stream === undefined) return undefined;
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    return Buffer.concat(chunks).toString('utf8');
  }

  /** Releases connections. */
  close(): void {
    this.backend.close();
  }
}
