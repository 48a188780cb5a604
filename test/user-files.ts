/**
 * A folder of "user files" for data-safety tests: files a person keeps next to (or instead of) a cache, some named
 * like the cache's own paths, and a snapshot of a whole tree to prove that a command changed nothing in it.
 */
import {createHash} from 'node:crypto';
import {lstat, mkdir, readdir, readFile, readlink, utimes, writeFile} from 'node:fs/promises';
import {join, relative} from 'node:path';

/**
 * Writes files a person could have: documents, a `tmp/` folder with a day-old file, a `locks/` folder, and folders
 * whose names look like cache entries (`ab/ab12...`), with a manifest-less and a manifest-like one. Returns their
 * relative paths.
 */
export async function writeUserFiles(dir: string): Promise<string[]> {
  const files: Record<string, string> = {
    'thesis.tex': '\\documentclass{article}\n',
    'notes/today.md': '# notes\n',
    'tmp/draft.txt': 'unsaved work\n',
    'tmp/host.1.abc/old.txt': 'old\n',
    'locks/readme.txt': 'not a lock\n',
    'ab/ab00000000000000/photo.jpg': 'jpeg bytes',
    'cd/cd00000000000000/manifest.json': '{"my": "own manifest"}\n',
  };
  for (const [path, text] of Object.entries(files)) {
    await mkdir(join(dir, path, '..'), {recursive: true});
    await writeFile(join(dir, path), text);
  }
  // Old enough that any age-based cleaning would take it.
  const old = new Date(Date.now() - 30 * 86_400_000);
  for (const path of ['tmp/draft.txt', 'tmp/host.1.abc/old.txt', 'tmp/host.1.abc', 'tmp']) await utimes(join(dir, path), old, old);
  return Object.keys(files).sort();
}

/** Every path under `dir` with its kind and content hash (files) or target (links): equal snapshots, same tree. */
export async function snapshot(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  const walk = async (current: string): Promise<void> => {
    for (const entry of await readdir(current, {withFileTypes: true})) {
      const path = join(current, entry.name);
      const rel = relative(dir, path);
      if (entry.isDirectory()) {
        out[rel] = 'dir';
        await walk(path);
      } else if (entry.isSymbolicLink()) {
        out[rel] = `link -> ${await readlink(path)}`;
      } else {
        const info = await lstat(path);
        out[rel] = `file ${info.size} ${createHash('sha256').update(await readFile(path)).digest('hex').slice(0, 16)}`;
      }
    }
  };
  await walk(dir);
  return out;
}
