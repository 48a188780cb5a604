/**
 * The node-type registry: built-in types from `nodes/index.ts` plus the types a pipeline's `imports:` modules define.
 *
 * Each type carries its implementation hash (its `version` plus xxhash64 of its module's source), which goes into
 * every key of that type, so editing a node's code invalidates exactly its results. A worker process reloads a type
 * from `PlannedNode.module` with `loadNodeType`.
 */
import {existsSync, readFileSync, statSync} from 'node:fs';
import type {globSync as GlobSync} from 'tinyglobby';
import path from 'node:path';
import {fileURLToPath, pathToFileURL} from 'node:url';
import type {NodeDefinition} from '../nodes/api.js';
import type {Diagnostic, DiagnosticLocation} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {closureBytes} from './module-closure.js';
import type {Hasher} from './keys.js';
import {getHasher} from './keys.js';

/** A registered node type. */
export interface RegisteredType {
  readonly definition: NodeDefinition;
  /** Absolute path of the defining module, or `builtin:<type>`. */
  readonly module: string;
  /** `version` (when set) and the source hash, e.g. `2+0f3a...` or `0f3a...`. */
  readonly implementation: string;
}

/** An `imports:` entry: the specifier as written and where it is written. */
export interface ImportRequest {
  readonly specifier: string;
  readonly location: DiagnosticLocation;
}

/** Node types by name. */
export class NodeTypeRegistry {
  readonly #types = new Map<string, RegisteredType>();

  /** The type registered under `name`. */
  get(name: string): RegisteredType | undefined {
    return this.#types.get(name);
  }

  /** All type names, sorted. */
  names(): string[] {
    return [...this.#types.keys()].sort();
  }

  /** Adds a type; false if the name is taken (the first registration wins). */
  add(type: RegisteredType): boolean {
    if (this.#types.has(type.definition.type)) return false;
    this.#types.set(type.definition.type, type);
    return true;
  }
}

const BUILTIN_PREFIX = 'builtin:';
const NODES_INDEX = new URL('../nodes/index.js', import.meta.url);

/** The glob matcher, loaded by `withGlob` when a type declares `files` (most do not). */
let globSync: typeof GlobSync | undefined;

/** `definitions`, after loading the glob matcher if one of them declares `files`. */
async function withGlob<T extends NodeDefinition>(definitions: readonly T[]): Promise<readonly T[]> {
  if (globSync === undefined && definitions.some((d) => d.files !== undefined && d.files.length > 0)) ({globSync} = await import('tinyglobby'));
  return definitions;
}

/** The implementation hash of a type, or why its declared `files` cannot be hashed. */
function implementationOf(hasher: Hasher, definition: NodeDefinition, file: string): {ok: true; value: string} | {ok: false; error: string} {
  // The module and everything it imports by relative path: editing a helper in ml/ invalidates the nodes using it.
  let bytes = closureBytes(file);
  if (definition.files !== undefined && definition.files.length > 0) {
    const declared = declaredFilesBytes(definition.files, path.dirname(file));
    if (!declared.ok) return {ok: false, error: `node type "${definition.type}" declares files ${declared.error}`};
    bytes = Buffer.concat([bytes, declared.value]);
  }
  const hash = hasher.hashBytes(bytes);
  return {ok: true, value: definition.version === undefined ? hash : `${String(definition.version)}+${hash}`};
}

/**
 * The bytes that identify a type's declared `files`: each matched regular file's path (relative to the module's
 * folder) and content, sorted by path. A pattern that matches nothing is reported: it is most likely a typo, and a
 * dependency that silently hashes to nothing would give stale hits.
 */
function declaredFilesBytes(patterns: readonly unknown[], baseDir: string): {ok: true; value: Buffer} | {ok: false; error: string} {
  const parts: Buffer[] = [];
  const seen = new Set<string>();
  for (const pattern of patterns) {
    if (typeof pattern !== 'string' || pattern === '') return {ok: false, error: `with a pattern that is not a non-empty string: ${JSON.stringify(pattern)}`};
    if (globSync === undefined) throw new Error('Internal error: the glob matcher was not loaded (see withGlob)');
    const matches = globSync(pattern, {cwd: baseDir, onlyFiles: true, dot: true, absolute: true, expandDirectories: false});
    const regular = matches.filter((m) => statSync(m, {throwIfNoEntry: false})?.isFile() === true);
    if (regular.length === 0) return {ok: false, error: `"${pattern}", which matches no file (relative to ${baseDir})`};
    for (const match of regular) seen.add(match);
  }
  for (const match of [...seen].sort()) {
    parts.push(Buffer.from(`${path.relative(baseDir, match).split(path.sep).join('/')}\0`), readFileSync(match), Buffer.from('\0'));
  }
  return {ok: true, value: Buffer.concat(parts)};
}

/** Why a module's default export is not a list of node definitions, or undefined when it is. */
function shapeProblem(exported: unknown): string | undefined {
  if (!Array.isArray(exported)) return 'its default export is not an array of node definitions';
  for (const [i, d] of exported.entries()) {
    const def = d as Partial<NodeDefinition> | null;
    if (def === null || typeof def !== 'object') return `item ${i} of its default export is not an object`;
    if (typeof def.type !== 'string' || def.type === '') return `item ${i} of its default export has no "type" name`;
    if (typeof def.run !== 'function') return `node type "${def.type}" has no run() function`;
    if (def.outputs === null || typeof def.outputs !== 'object') return `node type "${def.type}" has no "outputs"`;
  }
  return undefined;
}

/** Module file names Node 20 cannot import by itself. */
const TYPESCRIPT = /\.(?:[cm]?ts|tsx)$/;

/** The message for a TypeScript module when tsx, which compiles it on import, is not installed. */
export const NO_TYPESCRIPT_LOADER =
  'TypeScript node modules are compiled on import by tsx, which is not installed: run `npm install tsx`, or compile the module to .js and import that';

/**
 * Imports a node module file. Node 20 cannot load `.ts` natively, so TypeScript modules go through tsx's
 * `tsImport`, which compiles them with a loader scoped to this one import (it does not change how the rest of the
 * process loads modules, and works whether or not the process itself runs under tsx).
 */
async function importDefault(url: URL): Promise<unknown> {
  if (!TYPESCRIPT.test(url.pathname)) return ((await import(url.href)) as {default?: unknown}).default;
  let tsImport: (specifier: string, parent: string) => Promise<unknown>;
  try {
    ({tsImport} = (await import('tsx/esm/api')) as {tsImport: typeof tsImport});
  } catch {
    throw new Error(NO_TYPESCRIPT_LOADER);
  }
  const exported = ((await tsImport(url.href, import.meta.url)) as {default?: unknown}).default;
  // Outside a `"type": "module"` package tsx compiles the file to CommonJS, whose exports object arrives as the
  // default export; its own `default` is the module's `export default`.
  const inner = exported !== null && typeof exported === 'object' && !Array.isArray(exported) ? (exported as {default?: unknown}).default : undefined;
  return inner ?? exported;
}

async function addBuiltins(registry: NodeTypeRegistry, hasher: Hasher): Promise<void> {
  const builtins = await import('../nodes/index.js');
  for (const definition of await withGlob(builtins.default)) {
    const url = builtins.builtinModules[definition.type] ?? NODES_INDEX;
    const implementation = implementationOf(hasher, definition, fileURLToPath(url));
    if (!implementation.ok) throw new Error(`Internal error: built-in ${implementation.error}`);
    registry.add({definition, module: `${BUILTIN_PREFIX}${definition.type}`, implementation: implementation.value});
  }
}

/**
 * Builds the registry for a pipeline whose file is in `baseDir`: each import in order, then the built-in types,
 * but only when `wanted` names a type the imports do not define (built-in modules load TensorFlow.js, which a
 * pipeline of user types, and `validate` of it, should not pay for). An imported type shadows a built-in of the
 * same name. A module that cannot be found, throws while loading, or exports the wrong shape becomes a diagnostic
 * located at its `imports:` entry; so does a type name two imports define.
 */
export async function buildRegistry(
  imports: readonly ImportRequest[],
  baseDir: string,
  hasher: Hasher,
  wanted: Iterable<string>,
): Promise<{registry: NodeTypeRegistry; diagnostics: Diagnostic[]}> {
  const registry = new NodeTypeRegistry();
  const diagnostics: Diagnostic[] = [];
  const loaded = await Promise.all(
    imports.map(async (request) => {
      const file = path.resolve(baseDir, request.specifier);
      if (!existsSync(file)) {
        return {request, file, error: `cannot import "${request.specifier}": no such file`};
      }
      // A device (`/dev/zero`), a pipe or a folder would hang the import or the hashing of its source.
      if (!statSync(file).isFile()) {
        return {request, file, error: `cannot import "${request.specifier}": not a regular file`};
      }
      try {
        return {request, file, exported: await importDefault(pathToFileURL(file))};
      } catch (error: unknown) {
        // One line, but a compiler's "Transform failed with 1 error:" is only useful with the line that follows it.
        const lines = error instanceof Error ? error.message.split('\n') : [String(error)];
        const message = lines[0]?.endsWith(':') === true && lines[1] !== undefined ? `${lines[0]} ${lines[1].trim()}` : lines[0];
        return {request, file, error: `cannot import "${request.specifier}": ${message}`};
      }
    }),
  );
  for (const entry of loaded) {
    if ('error' in entry) {
      diagnostics.push(errorAt('import-failed', entry.request.location, entry.error ?? 'cannot import'));
      continue;
    }
    const problem = shapeProblem(entry.exported);
    if (problem !== undefined) {
      diagnostics.push(
        errorAt('import-failed', entry.request.location, `cannot use "${entry.request.specifier}": ${problem}`,
          'export default [defineNode({type, params, inputs, outputs, run}), ...]'),
      );
      continue;
    }
    for (const definition of await withGlob(entry.exported as NodeDefinition[])) {
      const implementation = implementationOf(hasher, definition, entry.file);
      if (!implementation.ok) {
        diagnostics.push(errorAt('import-failed', entry.request.location, `cannot use "${entry.request.specifier}": ${implementation.error}`,
          'files: lists paths or globs relative to the module, e.g. files: ["./data/*.json"]'));
        continue;
      }
      const added = registry.add({definition, module: entry.file, implementation: implementation.value});
      if (!added) {
        diagnostics.push(
          errorAt('duplicate-node-type', entry.request.location,
            `node type "${definition.type}" is already defined by "${path.basename(registry.get(definition.type)?.module ?? '')}"`,
            'rename one of them'),
        );
      }
    }
  }
  if ([...wanted].some((type) => registry.get(type) === undefined)) await addBuiltins(registry, hasher);
  return {registry, diagnostics};
}

/**
 * Loads a node type again in another process (a worker) from `PlannedNode.module`: an absolute module path, or
 * `builtin:<type>`. Throws when the module or the type is gone (the plan is stale), which the caller reports.
 */
export async function loadNodeType(module: string, type: string): Promise<NodeDefinition> {
  const exported = module.startsWith(BUILTIN_PREFIX)
    ? (await import('../nodes/index.js')).default
    : await importDefault(pathToFileURL(module));
  const problem = shapeProblem(exported);
  if (problem !== undefined) throw new Error(`Cannot load node type "${type}" from ${module}: ${problem}`);
  const definition = (exported as NodeDefinition[]).find((d) => d.type === type);
  if (definition === undefined) throw new Error(`Module ${module} no longer defines node type "${type}"`);
  return definition;
}

/**
 * The implementation hash of a loaded type, from its module's files as they are on disk now (for a worker process that
 * must check a job's module before running it: see `WorkerJob.implementation`).
 */
export async function currentImplementation(module: string, definition: NodeDefinition): Promise<string> {
  let file = module;
  if (module.startsWith(BUILTIN_PREFIX)) {
    const builtins = await import('../nodes/index.js');
    file = fileURLToPath(builtins.builtinModules[definition.type] ?? NODES_INDEX);
  }
  const implementation = implementationOf(await getHasher(), definition, file);
  if (!implementation.ok) throw new Error(implementation.error);
  return implementation.value;
}
