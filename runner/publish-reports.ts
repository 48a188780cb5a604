/**
 * Copies the outputs of every `Report`-kind instance of a plan out of the cache into a stable folder a person can open
 * (`.distillery/reports/<pipeline>/`), because cache entries live under hashed names and may be garbage-collected.
 * Copies rather than links, for the same reason.
 *
 * Publishing never deletes what it did not write: each folder gets a `.distillery-published.json` listing the files
 * put there, and a later publication removes exactly those (never the folder, never anything a person added). A
 * folder that exists without that list is not ours, and nothing is written into it.
 */
import {createRequire} from 'node:module';
import {cp, lstat, mkdir, readdir, readFile, rmdir, unlink, writeFile} from 'node:fs/promises';
import {dirname, extname, isAbsolute, join, relative} from 'node:path';
import type {CacheStore} from '../cache/store.js';
import type {Plan} from './plan.js';
import type {RunHeader} from './report-header.js';

/** The kind of output that is published. */
export const REPORT_KIND = 'Report';

/** The list of files a publication wrote into its folder. */
export const PUBLISHED_LIST = '.distillery-published.json';

/** One published report instance. */
export interface PublishedReport {
  readonly id: string;
  /** Folder the instance's files were copied into. */
  readonly dir: string;
  /** Absolute path of each Report-kind output port's file. */
  readonly files: readonly string[];
}

/** What publishing did: the reports copied, and why others were not (each a sentence for a warning). */
export interface PublishOutcome {
  readonly published: readonly PublishedReport[];
  readonly problems: readonly string[];
}

/** Kept as they are in a folder name; they are valid in file names on Linux, macOS and Windows. */
const SAFE = /[A-Za-z0-9._=,{}[\]-]/;
/** File names longer than this get a hash suffix instead of their tail (the limit is 255 bytes on most systems). */
const MAX_NAME = 120;

const require = createRequire(import.meta.url);

function digest(text: string, length: number): string {
  // Loaded on first use, for long names only: every run imports this module, and node:crypto costs milliseconds.
  const {createHash} = require('node:crypto') as typeof import('node:crypto');
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/**
 * A folder name for an instance id, one to one: every character outside a safe set (and `%` itself) is written as
 * `%XX` of its UTF-8 bytes, so `r{x="a/b"}` and `r{x="a:b"}` get different folders (`report{T=1}` stays as it is).
 * A name too long for a file system keeps its start and gets a hash of the whole id instead of its end.
 */
export function folderName(id: string): string {
  let name = '';
  for (const char of id) {
    name += SAFE.test(char) ? char : [...Buffer.from(char)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join('');
  }
  return name.length <= MAX_NAME ? name : `${name.slice(0, MAX_NAME - 17)}~${digest(id, 16)}`;
}

/**
 * Folder names for several ids of one pipeline. Names equal but for letter case would share a folder on a
 * case-insensitive file system (macOS, Windows): those get a short hash of their id (`~` never occurs otherwise).
 */
export function folderNames(ids: readonly string[]): Map<string, string> {
  const names = new Map(ids.map((id) => [id, folderName(id)]));
  const byFolded = new Map<string, string[]>();
  for (const [id, name] of names) byFolded.set(name.toLowerCase(), [...(byFolded.get(name.toLowerCase()) ?? []), id]);
  for (const group of byFolded.values()) {
    if (group.length > 1) for (const id of group) names.set(id, `${names.get(id) ?? ''}~${digest(id, 8)}`);
  }
  return names;
}

function errno(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException).code;
}

/** True when `path` lies strictly inside `root`. */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** A relative path from a published list that stays inside its folder (the list could have been edited by hand). */
function safeRelative(path: unknown): path is string {
  return typeof path === 'string' && path !== '' && !isAbsolute(path) && !path.split(/[\\/]/).some((s) => s === '..' || s === '');
}

/**
 * Makes `dir` ready for a new publication: removes the files listed by the previous one (and the folders that
 * became empty), or refuses with a reason when `dir` exists, is not empty and has no list.
 */
async function clearPrevious(dir: string): Promise<string | undefined> {
  let names: string[];
  try {
    const info = await lstat(dir);
    if (!info.isDirectory()) return `${dir} exists and is not a folder`;
    names = await readdir(dir);
  } catch (error) {
    if (errno(error) === 'ENOENT') return undefined;
    return `cannot read ${dir} (${errno(error) ?? String(error)})`;
  }
  if (names.length === 0) return undefined;
  let listed: unknown;
  try {
    listed = (JSON.parse(await readFile(join(dir, PUBLISHED_LIST), 'utf8')) as {files?: unknown}).files;
  } catch {
    return `${dir} exists and was not written by distillery (no ${PUBLISHED_LIST}); move it away to publish there`;
  }
  const files = Array.isArray(listed) ? listed.filter(safeRelative) : [];
  for (const file of files) {
    await unlink(join(dir, file)).catch(() => undefined);
    // Folders the publication created and that are now empty (never the publication folder itself).
    for (let parent = dirname(join(dir, file)); inside(dir, parent); parent = dirname(parent)) {
      if (!(await rmdir(parent).then(() => true, () => false))) break;
    }
  }
  await unlink(join(dir, PUBLISHED_LIST)).catch(() => undefined);
  return undefined;
}

/**
 * Publishes every computed Report instance of `plan` into `<root>/<plan name>/` (one instance) or
 * `<root>/<plan name>/<instance>/` (several). Instances not in the cache (failed, skipped) are left out. With a
 * `header`, Markdown and HTML report pages get the run's header where they ask for it (see report-header.ts).
 */
export async function publishReports(plan: Plan, store: CacheStore, root: string, header?: RunHeader): Promise<PublishOutcome> {
  const reports = [...plan.nodes.values()].filter((n) => Object.values(n.outputs).includes(REPORT_KIND));
  const names = folderNames(reports.map((n) => n.id));
  const published: PublishedReport[] = [];
  const problems: string[] = [];
  const base = join(root, folderName(plan.name));
  for (const node of reports) {
    const lookup = await store.get(node.key, {touch: false});
    if (lookup.status !== 'hit') continue;
    const dir = reports.length === 1 ? base : join(base, names.get(node.id) ?? folderName(node.id));
    // Names are checked by the schema and encoded above; this guards the invariant that nothing outside `root` is touched.
    if (!inside(root, dir)) throw new Error(`Internal error: report folder ${dir} is not inside ${root}`);
    const refused = await clearPrevious(dir);
    if (refused !== undefined) {
      problems.push(`report of ${node.id} not published: ${refused}`);
      continue;
    }
    await mkdir(dir, {recursive: true});
    const files = lookup.entry.manifest.files.map((f) => f.path);
    // The list first: should copying fail half-way, the next publication still knows what to remove.
    await writeFile(join(dir, PUBLISHED_LIST), JSON.stringify({id: node.id, key: node.key, files}, null, 1) + '\n');
    for (const file of files) {
      await cp(join(lookup.entry.dir, file), join(dir, file), {recursive: true});
    }
    const outputs = Object.entries(lookup.entry.manifest.outputs)
      .filter(([port]) => node.outputs[port] === REPORT_KIND)
      .map(([, out]) => join(dir, ...out.file.split('/')));
    if (header !== undefined) await stampPages(outputs, header);
    published.push({id: node.id, dir, files: outputs});
  }
  return {published, problems};
}

async function stampPages(files: readonly string[], header: RunHeader): Promise<void> {
  const {stampReport} = await import('./report-header.js');
  for (const file of files) {
    const ext = extname(file);
    if (ext !== '.md' && ext !== '.html') continue;
    await writeFile(file, stampReport(await readFile(file, 'utf8'), ext === '.md' ? 'md' : 'html', header));
  }
}
