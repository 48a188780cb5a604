/**
 * Checks a file a command was asked to write (`run --summary FILE`, `export --out PATH`) before any work is done,
 * so that a path onto a folder, a device or a kernel file system (`/proc`, `/sys`) is refused at once with a message
 * instead of failing (or writing into the kernel) after a long run.
 */
import {lstat, stat, statfs} from 'node:fs/promises';
import {dirname, resolve, sep} from 'node:path';

/**
 * File systems whose files are kernel interfaces, not storage (statfs magic numbers from linux/magic.h): proc, sysfs,
 * cgroup v1 and v2, debugfs, securityfs, devpts, bpf, tracefs, pstore, efivarfs, configfs.
 */
const KERNEL_FILE_SYSTEMS: ReadonlySet<number> = new Set([
  0x9fa0, 0x62656572, 0x27e0eb, 0x63677270, 0x64626720, 0x73636673, 0x1cd1, 0xcafe4a11, 0x74726163, 0x6165676c,
  0xde5e81e4, 0x62656570,
]);

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

async function onKernelFileSystem(path: string): Promise<boolean> {
  try {
    return KERNEL_FILE_SYSTEMS.has((await statfs(path)).type);
  } catch {
    // statfs is unavailable on some platforms; the other checks still apply.
    return false;
  }
}

/**
 * Why `given` (as the user wrote it, relative to `cwd`) cannot receive a file written by this program, or undefined
 * when it can (an existing regular file is replaced; missing folders above it are created when it is written).
 */
export async function outputFileProblem(given: string, cwd = process.cwd()): Promise<string | undefined> {
  if (given.endsWith('/') || given.endsWith(sep)) return `${given} names a folder; give a file name`;
  const path = resolve(cwd, given);
  try {
    const info = await stat(path);
    if (info.isDirectory()) return `${path} is a folder; give a file name`;
    if (!info.isFile()) return `${path} is not a regular file (a device, pipe or socket)`;
    if (await onKernelFileSystem(path)) return `${path} is on a kernel file system (like /proc or /sys), not storage`;
    return undefined;
  } catch (error) {
    // ENOTDIR: something above it is a file, which the walk below names.
    if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR') {
      // A dangling symlink, or a path through a file: lstat tells which.
      const link = await lstat(path).then((s) => s.isSymbolicLink(), () => false);
      if (link) return `${path} is a symbolic link to nothing`;
      return `cannot write ${path} (${errno(error) ?? String(error)})`;
    }
  }
  // The file does not exist: the nearest existing folder above it decides.
  let parent = dirname(path);
  for (;;) {
    try {
      const info = await stat(parent);
      if (!info.isDirectory()) return `cannot write ${path}: ${parent} is not a folder`;
      break;
    } catch (error) {
      if (errno(error) !== 'ENOENT' && errno(error) !== 'ENOTDIR') return `cannot write ${path} (${errno(error) ?? String(error)})`;
      const up = dirname(parent);
      if (up === parent) return `cannot write ${path}: no existing folder above it`;
      parent = up;
    }
  }
  if (await onKernelFileSystem(parent)) return `${path} is on a kernel file system (like /proc or /sys), not storage`;
  return undefined;
}
