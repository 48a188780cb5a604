/**
 * `--set path=value` overrides: each replaces (or adds) one value of the loaded YAML document before validation, so
 * an override is checked exactly like the file and its problems point at the command line.
 */
import {parseDocument} from 'yaml';
import type {Document} from 'yaml';
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
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
