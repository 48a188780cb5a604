/**
 * A pipeline's last analysis, kept in `<dir>/<hash of the file's path>.json` (`run` and `plan` use
 * `.distillery/analysis/`), so that running or planning an unchanged pipeline does not parse, validate and expand it
 * again: for a big grid that is most of a cached run's time.
 *
 * A stored plan is used only when everything its analysis read is unchanged, since a stale plan would mean stale keys:
 *   - the pipeline file's bytes, its path and the display name, the `--set` overrides, the limits, and the declared
 *     environment (backend, versions, thread counts) as probed now;
 *   - the node types: the registry is built again as the analysis built it (the same imports, the built-in types when
 *     wanted), which hashes every module's source closure and declared `files:` as keys need; each type the plan
 *     uses must have the same module, implementation hash and definition (params schema, defaults, ports, resources);
 *   - the analyzer itself: distillery's version, the versions of the packages the analysis uses (yaml, ajv,
 *     xxhash-wasm, graphology), and the size and modification time of every source file of the analysis.
 * Only analyses without errors or warnings are stored. Anything unreadable, malformed or different is a miss and the
 * pipeline is analyzed in full (and stored again); a write that fails is ignored. The files can be deleted at any
 * time.
 */
import {readFileSync, statSync} from 'node:fs';
import {mkdir, rename, rm, writeFile} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {randomHex} from '../cache/random-hex.js';
import {dirname, join} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {SourceInput, RegistryRequest} from './analyze-source.js';
import {distilleryVersion} from './distillery-version.js';
import type {Hasher} from './keys.js';
import {getHasher} from './keys.js';
import {moduleClosure, sourceOf} from './module-closure.js';
import {packageVersion} from './package-version.js';
import type {Plan} from './plan.js';
import type {StoredPlan} from './stored-plan.js';
import {fromStored, toStored} from './stored-plan.js';
import type {NodeTypeRegistry} from './registry.js';
import {buildRegistry} from './registry.js';

/** Where stored analyses live. */
export interface StoredAnalysisOptions {
  readonly dir: string;
  /** False: use stored analyses but do not store new ones. Default true. */
  readonly write?: boolean;
}

/** A pipeline's stored analysis, opened for one analysis. */
export interface StoredAnalysis {
  /** The stored plan, when it still holds. */
  lookup(): Promise<Plan | undefined>;
  /** Stores the plan of a full analysis (unless it has warnings, or writing is off). */
  save(plan: Plan, registry: {readonly request: RegistryRequest; readonly types: NodeTypeRegistry}): Promise<void>;
}

/** Bumped whenever what is stored, or how it is checked, changes. */
const FORMAT = 1;

/** The packages whose code decides what an analysis produces. */
const ANALYSIS_PACKAGES = ['yaml', 'ajv', 'xxhash-wasm', 'graphology', 'graphology-dag'] as const;

/** A source file of the analyzer: path, size and modification time when the analysis was stored. */
type SourceStamp = readonly [path: string, size: number, mtimeMs: number];

interface StoredRecord {
  readonly format: number;
  /** Hash of the analysis inputs (see the module comment). */
  readonly inputs: string;
  readonly analyzer: readonly SourceStamp[];
  readonly registry: {readonly request: RegistryRequest; readonly types: readonly string[]; readonly fingerprint: string};
  readonly plan: StoredPlan;
}

const require = createRequire(import.meta.url);

/** The analyzer's own source files (the analysis modules and what they import inside `runner/`). */
function analyzerSources(): string[] {
  const entry = sourceOf(fileURLToPath(new URL('./analyze-source.js', import.meta.url)));
  return [...moduleClosure(entry, dirname(entry)), sourceOf(fileURLToPath(import.meta.url))].sort();
}

function stamp(file: string): SourceStamp | undefined {
  const info = statSync(file, {throwIfNoEntry: false});
  return info === undefined ? undefined : [file, info.size, info.mtimeMs];
}

/** Whether every stamped file still has its size and time. */
function stampsHold(stamps: readonly SourceStamp[]): boolean {
  return stamps.length > 0 && stamps.every(([file, size, mtime]) => {
    const now = stamp(file);
    return now !== undefined && now[1] === size && now[2] === mtime;
  });
}

/**
 * What the types a plan uses are, as one hash: each type's module, implementation hash and definition (as JSON; its
 * functions are left out). Undefined when a type is missing or its definition has no JSON form.
 */
function registryFingerprint(hasher: Hasher, registry: NodeTypeRegistry, types: readonly string[]): string | undefined {
  try {
    const parts = types.map((type) => {
      const registered = registry.get(type);
      if (registered === undefined) throw new Error(`no type ${type}`);
      return [type, registered.module, registered.implementation, registered.definition];
    });
    return hasher.hashString(JSON.stringify(parts));
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is StoredRecord {
  const r = value as Partial<StoredRecord> | null;
  return r !== null && typeof r === 'object' && r.format === FORMAT && typeof r.inputs === 'string' && Array.isArray(r.analyzer) &&
    typeof r.registry?.fingerprint === 'string' && Array.isArray(r.registry.types) && Array.isArray(r.registry.request?.imports) &&
    Array.isArray(r.registry.request.wanted) && typeof r.plan === 'object' && r.plan !== null;
}

/**
 * Opens the stored analysis of the pipeline `input` describes, or undefined when its analysis cannot be stored (a
 * bad environment setting: the full analysis reports it).
 */
export async function openStoredAnalysis(options: StoredAnalysisOptions, input: SourceInput): Promise<StoredAnalysis | undefined> {
  if (!input.environment.ok) return undefined;
  const environment = input.environment.value;
  const hasher = await getHasher();
  const packages = Object.fromEntries(ANALYSIS_PACKAGES.map((name) => [name, packageVersion(name, require) ?? null]));
  const inputs = hasher.hashString(
    JSON.stringify({
      format: FORMAT,
      distillery: distilleryVersion(),
      packages,
      file: input.absolute,
      display: input.display,
      sets: input.sets,
      limits: input.limits,
      environment,
      text: hasher.hashString(input.text),
    }),
  );
  const path = join(options.dir, `${hasher.hashString(input.absolute)}.json`);
  const baseDir = dirname(input.absolute);
  const registryOf = (request: RegistryRequest) =>
    buildRegistry(request.imports.map((specifier) => ({specifier, location: {file: input.display, line: 1, col: 1}})), baseDir, hasher, request.wanted);

  return {
    async lookup() {
      let record: unknown;
      try {
        // Synchronous: the run waits for this record before anything else, so a thread-pool read only adds waiting.
        record = JSON.parse(readFileSync(path, 'utf8'));
      } catch {
        return undefined;
      }
      if (!isRecord(record) || record.inputs !== inputs || !stampsHold(record.analyzer)) return undefined;
      // The node types as the analysis would find them now: their code, declared files and definitions.
      const {registry, diagnostics} = await registryOf(record.registry.request);
      if (diagnostics.length > 0) return undefined;
      if (registryFingerprint(hasher, registry, record.registry.types) !== record.registry.fingerprint) return undefined;
      return fromStored(record.plan);
    },

    async save(plan, registry) {
      if (options.write === false || plan.warnings !== undefined) return;
      const types = [...new Set([...plan.nodes.values()].map((n) => n.type))].sort();
      const fingerprint = registryFingerprint(hasher, registry.types, types);
      const analyzer = analyzerSources().map(stamp);
      const stored = toStored(plan, environment);
      if (fingerprint === undefined || stored === undefined || analyzer.some((s) => s === undefined)) return;
      const record: StoredRecord = {
        format: FORMAT,
        inputs,
        analyzer: analyzer as SourceStamp[],
        registry: {request: registry.request, types, fingerprint},
        plan: stored,
      };
      // Written aside and renamed, so a reader never sees half a record; two writers leave one whole record.
      const temp = `${path}.${process.pid}.${randomHex(4)}.tmp`;
      try {
        await mkdir(options.dir, {recursive: true});
        await writeFile(temp, JSON.stringify(record));
        await rename(temp, path);
      } catch {
        await rm(temp, {force: true}).catch(() => undefined);
      }
    },
  };
}

/** The folder `run` and `plan` keep analyses in, under the working directory. */
export function analysisDir(cwd: string): string {
  return join(cwd, '.distillery', 'analysis');
}
