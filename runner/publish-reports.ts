/**
 * Copies the outputs of every `Report`-kind instance of a plan out of the cache into a stable folder a person can open
 * (`.distillery/reports/<pipeline>/`), because cache entries live under hashed names and may be garbage-collected.
 * Copies rather than links, for the same reason.
 */
import {cp, mkdir, readFile, rm, writeFile} from 'node:fs/promises';
import {extname, join} from 'node:path';
import type {CacheStore} from '../cache/store.js';
import type {Plan} from './plan.js';
import type {RunHeader} from './report-header.js';

/** The kind of output that is published. */
export const REPORT_KIND = 'Report';

/** One published report instance. */
export interface PublishedReport {
  readonly id: string;
  /** Folder the instance's files were copied into. */
  readonly dir: string;
  /** Absolute path of each Report-kind output port's file. */
  readonly files: readonly string[];
}

/** A folder name for an instance id (`report{T=1}` -> `report_T=1_`). */
function folderName(id: string): string {
  return id.replace(/[^A-Za-z0-9._=-]+/g, '_');
}

/**
 * Publishes every computed Report instance of `plan` into `<root>/<plan name>/` (one instance) or
 * `<root>/<plan name>/<instance>/` (several). Instances not in the cache (failed, skipped) are left out. With a
 * `header`, Markdown and HTML report pages get the run's header where they ask for it (see report-header.ts).
 */
export async function publishReports(plan: Plan, store: CacheStore, root: string, header?: RunHeader): Promise<PublishedReport[]> {
  const reports = [...plan.nodes.values()].filter((n) => Object.values(n.outputs).includes(REPORT_KIND));
  const published: PublishedReport[] = [];
  for (const node of reports) {
    const lookup = await store.get(node.key, {touch: false});
    if (lookup.status !== 'hit') continue;
    const dir = reports.length === 1 ? join(root, folderName(plan.name)) : join(root, folderName(plan.name), folderName(node.id));
    await rm(dir, {recursive: true, force: true});
    await mkdir(dir, {recursive: true});
    for (const file of lookup.entry.manifest.files) {
      await cp(join(lookup.entry.dir, file.path), join(dir, file.path), {recursive: true});
    }
    const files = Object.entries(lookup.entry.manifest.outputs)
      .filter(([port]) => node.outputs[port] === REPORT_KIND)
      .map(([, out]) => join(dir, out.file));
    if (header !== undefined) await stampPages(files, header);
    published.push({id: node.id, dir, files});
  }
  return published;
}

async function stampPages(files: readonly string[], header: RunHeader): Promise<void> {
  const {stampReport} = await import('./report-header.js');
  for (const file of files) {
    const ext = extname(file);
    if (ext !== '.md' && ext !== '.html') continue;
    await writeFile(file, stampReport(await readFile(file, 'utf8'), ext === '.md' ? 'md' : 'html', header));
  }
}
