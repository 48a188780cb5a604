/**
 * A remote in a shared folder (an NFS or SMB mount, or any directory several machines or users can reach).
 *
 * Objects are written to a temp file inside the remote folder and renamed into place, so a reader on another machine
 * sees the whole object or none (rename is atomic on one file system, NFS included). The folder itself must exist: a
 * missing folder usually means an unmounted share, and creating it would silently write the team's cache to a local
 * disk instead.
 */
import {randomHex} from './random-hex.js';
import {constants} from 'node:fs';
import {copyFile, lstat, mkdir, open, readdir, rename, rm, stat, writeFile} from 'node:fs/promises';
import {hostname} from 'node:os';
import {dirname, join} from 'node:path';
import type {Readable} from 'node:stream';
import type {Listing, ObjectBackend, ObjectBody} from './remote-backend.js';
import {RemoteError} from './remote-backend.js';

const TMP_PREFIX = '.tmp-';

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** The shared-folder backend. */
export class FolderBackend implements ObjectBackend {
  readonly kind = 'folder' as const;
  readonly location: string;
  #checked = false;

  constructor(root: string) {
    this.location = root;
  }

  /** Fails `unavailable` when the folder is missing (an unmounted share) or not a folder. */
  async #root(): Promise<string> {
    if (!this.#checked) {
      const s = await stat(this.location).catch(() => undefined);
      if (s === undefined || !s.isDirectory()) {
        throw new RemoteError('unavailable', `the remote folder ${this.location} does not exist (is the share mounted? create it once to start a new remote)`);
      }
      this.#checked = true;
    }
    return this.location;
  }

  #path(root: string, path: string): string {
    if (path.split('/').some((s) => s === '..' || s === '')) throw new Error(`Internal error: bad remote path ${JSON.stringify(path)}`);
    return join(root, ...path.split('/'));
  }

  async read(path: string): Promise<Readable | undefined> {
    const full = this.#path(await this.#root(), path);
    try {
      // O_NOFOLLOW: a symlink planted in a shared folder must not make us read a file outside it.
      const handle = await open(full, constants.O_RDONLY | constants.O_NOFOLLOW);
      return handle.createReadStream({highWaterMark: 1 << 20});
    } catch (error) {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return undefined;
      if (errno(error) === 'ELOOP') throw new RemoteError('failed', `${path} in the remote folder is a symlink`);
      throw new RemoteError('unavailable', `cannot read ${path} from ${this.location}: ${errno(error) ?? String(error)}`);
    }
  }

  async size(path: string): Promise<number | undefined> {
    const full = this.#path(await this.#root(), path);
    const s = await lstat(full).catch(() => undefined);
    return s?.isFile() === true ? s.size : undefined;
  }

  async write(path: string, body: ObjectBody): Promise<void> {
    const root = await this.#root();
    const target = this.#path(root, path);
    const tmp = join(root, `${TMP_PREFIX}${hostname().replace(/[^A-Za-z0-9-]/g, '-')}.${process.pid}.${randomHex(6)}`);
    try {
      if ('file' in body) await copyFile(body.file, tmp);
      else await writeFile(tmp, body.bytes);
      await mkdir(dirname(target), {recursive: true});
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, {force: true}).catch(() => undefined);
      throw new RemoteError('unavailable', `cannot write ${path} to ${this.location}: ${errno(error) ?? String(error)}`);
    }
  }

  async remove(path: string): Promise<void> {
    await rm(this.#path(await this.#root(), path), {force: true});
  }

  async list(folder: string): Promise<Listing> {
    const root = await this.#root();
    const dir = folder === '' ? root : this.#path(root, folder);
    const entries = await readdir(dir, {withFileTypes: true}).catch((error: unknown) => {
      if (errno(error) === 'ENOENT' || errno(error) === 'ENOTDIR') return [];
      throw new RemoteError('unavailable', `cannot list ${this.location}: ${errno(error) ?? String(error)}`);
    });
    const visible = entries.filter((e) => !e.name.startsWith(TMP_PREFIX));
    return {
      files: visible.filter((e) => e.isFile()).map((e) => e.name).sort(),
      folders: visible.filter((e) => e.isDirectory()).map((e) => e.name).sort(),
    };
  }

  close(): void {
    // Nothing to release.
  }
}
