/**
 * The source files a node module's behaviour depends on: the module plus everything it imports by relative path,
 * transitively (static `import ... from`, `export ... from`, bare `import '...'`, and dynamic `import('...')`).
 *
 * A node's implementation hash covers this closure, so editing `ml/mtt.ts` invalidates `distillJoint`'s entries
 * although the node file itself did not change. Package imports (`@tensorflow/tfjs`) are not followed: their versions
 * are part of the declared environment instead. Written by hand because the bundlers that compute import graphs
 * would be a heavy dependency for a scan that only needs relative specifiers.
 */
import {existsSync, readFileSync, statSync} from 'node:fs';
import {dirname, relative, resolve, sep} from 'node:path';

const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"](\.{1,2}\/[^'"]+)['"]/g;

/**
 * The TypeScript source of a compiled file when one exists: next to it (tsx runs), or at the same place outside the
 * package's `dist/` folder (a build). Running from sources and from the build then hashes the same text, so both
 * share cache entries.
 */
export function sourceOf(file: string): string {
  if (!file.endsWith('.js')) return file;
  const ts = file.slice(0, -3) + '.ts';
  if (existsSync(ts)) return ts;
  const marker = `${sep}dist${sep}`;
  const at = file.lastIndexOf(marker);
  if (at >= 0) {
    const outside = file.slice(0, at) + sep + file.slice(at + marker.length, -3) + '.ts';
    if (existsSync(outside)) return outside;
  }
  return file;
}

function resolveSpecifier(fromFile: string, specifier: string): string | undefined {
  const target = resolve(dirname(fromFile), specifier);
  for (const candidate of [sourceOf(target), target]) if (existsSync(candidate)) return candidate;
  return undefined;
}

/**
 * The closure of `entry` (an absolute path), as absolute source paths, sorted; the entry's source comes first. With
 * `within` (a folder), imports of files outside it are not followed.
 */
export function moduleClosure(entry: string, within?: string): string[] {
  const start = sourceOf(entry);
  const inside = within === undefined ? () => true : (file: string) => file.startsWith(within.endsWith(sep) ? within : within + sep);
  const seen = new Set<string>([start]);
  const queue = [start];
  for (let file = queue.pop(); file !== undefined; file = queue.pop()) {
    let text: string;
    try {
      // Only regular files: a relative import that reaches a device (`../../dev/zero`) must not be read forever.
      if (statSync(file).isFile() !== true) continue;
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const match of text.matchAll(SPECIFIER)) {
      const next = resolveSpecifier(file, match[1] ?? '');
      if (next !== undefined && !seen.has(next) && inside(next)) {
        seen.add(next);
        queue.push(next);
      }
    }
  }
  const rest = [...seen].filter((f) => f !== start).sort();
  return [start, ...rest];
}

/**
 * The bytes that identify a closure: each file's path relative to the entry's folder and its content, so the same
 * code in two checkouts (or two users' machines) gives the same bytes.
 */
export function closureBytes(entry: string): Uint8Array {
  const files = moduleClosure(entry);
  const base = dirname(files[0] ?? entry);
  const parts: Buffer[] = [];
  for (const file of files) {
    parts.push(Buffer.from(`${relative(base, file).split(sep).join('/')}\0`));
    try {
      if (statSync(file).isFile() !== true) throw new Error('not a regular file');
      parts.push(readFileSync(file));
    } catch {
      parts.push(Buffer.from('<unreadable>'));
    }
    parts.push(Buffer.from('\0'));
  }
  return Buffer.concat(parts);
}



