/**
 * `--set path=value` overrides: each replaces (or adds) one value of the loaded YAML document before validation, so
 * an override is checked exactly like the file and its problems point at the command line.
 */
import {isMap, isScalar, parseDocument} from 'yaml';
import type {Document} from 'yaml';
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {didYouMeanHint} from './did-you-mean.js';
import type {PipelineLocator} from './pipeline-document.js';
import {SourceText} from './source-text.js';

/** How the command line is shown in diagnostics. */
export const COMMAND_LINE = 'command line';

/** The command-line text the overrides are located in: `--set a=1 --set b=2`. */
export function commandLineSource(sets: readonly string[]): SourceText {
  return new SourceText(COMMAND_LINE, sets.map((s) => `--set ${s}`).join(' '));
}

/**
 * Applies each `path=value` to `doc` in order (a later one wins) and tells `locator` where each came from.
 * `value` is parsed as YAML (so `[0.3]`, `2`, `true` and plain strings all work). Returns the problems found.
 */
export function applyOverrides(doc: Document.Parsed, sets: readonly string[], locator: PipelineLocator): Diagnostic[] {
  const source = commandLineSource(sets);
  const diagnostics: Diagnostic[] = [];
  let offset = 0;
  for (const set of sets) {
    const start = offset + '--set '.length;
    offset += `--set ${set} `.length;
    const eq = set.indexOf('=');
    if (eq < 0) {
      diagnostics.push(
        errorAt('bad-override', source.location(start, start + set.length), `--set needs PATH=VALUE, got "${set}"`, 'for example --set params.ipc=10'),
      );
      continue;
    }
    const rawPath = set.slice(0, eq);
    const rawValue = set.slice(eq + 1);
    const pathLocation = source.location(start, start + eq);
    const valueLocation = source.location(start + eq + 1, start + set.length);
    const path = rawPath.split('.');
    if (path.some((segment) => segment.trim() === '')) {
      diagnostics.push(
        errorAt('bad-override', pathLocation, `bad path "${rawPath}" in --set`, 'a path is dot-separated keys, e.g. nodes.expert.with.epochs'),
      );
      continue;
    }
    const parsed = parseDocument(rawValue, {prettyErrors: false});
    if (parsed.errors.length > 0) {
      const first = (parsed.errors[0]?.message ?? '').split('\n')[0]?.replace(/ at line \d+, column \d+:?$/, '');
      diagnostics.push(
        errorAt('bad-override', valueLocation, `the value of --set ${rawPath} is not valid YAML: ${first}`, 'quote the value for your shell, e.g. --set \'grid.alpha=[0.3, 0.7]\''),
      );
      continue;
    }
    const missing = missingSegment(doc, path);
    if (missing !== undefined) {
      diagnostics.push(errorAt('bad-override', pathLocation, missing.message, missing.hint));
      continue;
    }
    try {
      doc.setIn(path, doc.createNode(parsed.toJS()));
    } catch (error: unknown) {
      diagnostics.push(
        errorAt(
          'bad-override',
          pathLocation,
          `cannot set "${rawPath}": ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`,
          'the path goes through a value that is not a map or a list',
        ),
      );
      continue;
    }
    locator.addOverride({path, pathLocation, valueLocation});
  }
  return diagnostics;
}

/** Names of the keys of the map at `path` in `doc` (empty when it is not a map). */
function keysAt(doc: Document.Parsed, path: readonly string[]): string[] {
  const node = path.length === 0 ? doc.contents : doc.getIn(path, true);
  return isMap(node) ? node.items.flatMap((p) => (isScalar(p.key) ? [String(p.key.value)] : [])) : [];
}

/**
 * Why a `--set` path names nothing, or undefined when it may be set. Replacing what exists is always fine. A key
 * missing from an existing map is fine where a schema checks it anyway (top-level keys, node keys, params in
 * `with:`, ports in `in:`, a new node), but not a new or misspelt `params.X`, `grid.X`, or node name on the way to
 * something: nothing would read it, so the override would silently change nothing. Paths through a scalar are left
 * to the setter, which explains them.
 */
function missingSegment(doc: Document.Parsed, path: readonly string[]): {message: string; hint: string | undefined} | undefined {
  for (let i = 0; i < path.length; i++) {
    const prefix = path.slice(0, i + 1);
    if (doc.hasIn(prefix)) continue;
    const parent = path.slice(0, i);
    if (!isMap(parent.length === 0 ? doc.contents : doc.getIn(parent, true))) return undefined;
    const last = i === path.length - 1;
    const top = parent[0];
    const checked =
      parent.length === 0 || // top-level keys: the pipeline schema
      (top === 'nodes' && parent.length === 1 && last) || // a new node: the schema wants its type
      (top === 'nodes' && parent.length >= 2); // node keys, params and ports: their schemas and the wiring check
    if (checked) return undefined;
    const siblings = keysAt(doc, parent);
    const hint = didYouMeanHint(path[i] ?? '', siblings) ?? (siblings.length > 0 ? `${parent.join('.')} has: ${siblings.join(', ')}` : undefined);
    return {message: `--set ${path.join('.')}: the pipeline has no ${prefix.join('.')}, so this override would change nothing`, hint};
  }
  return undefined;
}
