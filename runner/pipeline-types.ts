/**
 * The node types a pipeline can use: the built-in ones plus those of its `imports:` modules, without analysing the
 * rest of the pipeline (so `distillery schema FILE` works on a file that still has mistakes in its nodes).
 */
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import type {NodeDefinition} from '../nodes/api.js';
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {getHasher} from './keys.js';
import {PipelineLocator, parsePipelineText, pipelineData} from './pipeline-document.js';
import {readPipelineSpec} from './pipeline-spec.js';
import {buildRegistry} from './registry.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {SourceText} from './source-text.js';

/** A name no type has, so that the registry adds the built-in types whatever the imports define. */
const ANY_BUILTIN = '\0builtins';

/** The built-in types, or also those of the pipeline in `file` (relative to `cwd`). */
export async function pipelineTypes(file: string | undefined, cwd: string): Promise<Result<NodeDefinition[], readonly Diagnostic[]>> {
  const hasher = await getHasher();
  if (file === undefined) {
    const {registry} = await buildRegistry([], cwd, hasher, [ANY_BUILTIN]);
    return ok(registry.names().flatMap((n) => registry.get(n)?.definition ?? []));
  }
  const absolute = path.resolve(cwd, file);
  let text: string;
  try {
    text = await readFile(absolute, 'utf8');
  } catch (error: unknown) {
    return fail([errorAt('file-unreadable', {file, line: 1, col: 1}, `cannot read the pipeline: ${(error as Error).message}`)]);
  }
  const source = new SourceText(file, text);
  const parsed = parsePipelineText(source);
  if (!parsed.ok) return fail(parsed.error);
  const locator = new PipelineLocator(source, parsed.value);
  const data = pipelineData(parsed.value, source);
  if (!data.ok) return fail([data.error]);
  const {spec} = readPipelineSpec(data.value, absolute, locator);
  const {registry, diagnostics} = await buildRegistry(
    spec.imports.map((i) => ({specifier: i.specifier, location: locator.value(i.path)})),
    path.dirname(absolute),
    hasher,
    [ANY_BUILTIN],
  );
  if (diagnostics.length > 0) return fail(diagnostics);
  return ok(registry.names().flatMap((n) => registry.get(n)?.definition ?? []));
}
