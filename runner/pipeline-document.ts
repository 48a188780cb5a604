/**
 * The loaded pipeline: its YAML document (which keeps every value's source range), the `--set` overrides applied to
 * it, and a locator that turns a path in the data (`['nodes', 'expert', 'repeat']`) into a source location.
 */
import {isAlias, isMap, isPair, isScalar, isSeq, parseDocument} from 'yaml';
import type {Document, Node, Pair} from 'yaml';
import type {Diagnostic, DiagnosticLocation} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {SourceText} from './source-text.js';

/** A path into the pipeline data: map keys and sequence indices. */
export type DataPath = readonly (string | number)[];

/**
 * Aliases a document may expand. Generous for hand-written YAML, yet an alias bomb (each level doubling the last)
 * is stopped long before it can exhaust memory.
 */
export const MAX_ALIAS_COUNT = 100;

/** One applied `--set`: where its path and its value are on the command line. */
interface AppliedOverride {
  readonly path: readonly string[];
  readonly pathLocation: DiagnosticLocation;
  readonly valueLocation: DiagnosticLocation;
}

/** Parses YAML text; syntax errors (duplicate keys included) become located diagnostics. */
export function parsePipelineText(source: SourceText): Result<Document.Parsed, Diagnostic[]> {
  const doc = parseDocument(source.text, {prettyErrors: false, uniqueKeys: true});
  if (doc.errors.length === 0) return ok(doc);
  return fail(
    doc.errors.map((e) => {
      // yaml appends " at line L, column C:" and a code excerpt; we render our own excerpt.
      const message = (e.message.split('\n')[0] ?? e.message).replace(/ at line \d+, column \d+:?$/, '');
      // The parser is recursive: a few hundred levels of nesting exhaust its stack, which it reports in its own words.
      if (/Maximum call stack size exceeded/.test(message)) {
        return errorAt('yaml-syntax', source.location(e.pos[0], e.pos[1]), 'the YAML nests too deeply to be read',
          'a pipeline needs a few levels of nesting; this one has hundreds');
      }
      return errorAt('yaml-syntax', source.location(e.pos[0], e.pos[1]), message);
    }),
  );
}

/** Maps data paths to source locations, including values that came from `--set` rather than the file. */
export class PipelineLocator {
  readonly source: SourceText;
  readonly #doc: Document.Parsed;
  readonly #overrides: AppliedOverride[] = [];

  constructor(source: SourceText, doc: Document.Parsed) {
    this.source = source;
    this.#doc = doc;
  }

  /** Records an applied override so paths under it are located on the command line. */
  addOverride(override: AppliedOverride): void {
    this.#overrides.push(override);
  }

  /** The last override that replaced `path` or a parent of it, if any. */
  #overrideCovering(path: DataPath): AppliedOverride | undefined {
    for (let i = this.#overrides.length - 1; i >= 0; i--) {
      const o = this.#overrides[i];
      if (o !== undefined && o.path.length <= path.length && o.path.every((seg, j) => seg === String(path[j]))) return o;
    }
    return undefined;
  }

  /** The last override whose path lies under `path` (it created something there). */
  #overrideUnder(path: DataPath): AppliedOverride | undefined {
    for (let i = this.#overrides.length - 1; i >= 0; i--) {
      const o = this.#overrides[i];
      if (o !== undefined && o.path.length > path.length && path.every((seg, j) => String(seg) === o.path[j])) return o;
    }
    return undefined;
  }

  #resolve(node: unknown): unknown {
    return isAlias(node) ? node.resolve(this.#doc) : node;
  }

  /** Walks `path` through the YAML tree; returns the deepest pair and node reached and how far it got. */
  #walk(path: DataPath): {node: Node | undefined; pair: Pair | undefined; depth: number} {
    let node = this.#resolve(this.#doc.contents) as Node | undefined;
    let pair: Pair | undefined;
    let depth = 0;
    for (const segment of path) {
      if (isMap(node)) {
        const found = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(segment));
        if (found === undefined) break;
        pair = found;
        node = this.#resolve(found.value) as Node | undefined;
      } else if (isSeq(node)) {
        const item = node.items[Number(segment)];
        if (item === undefined) break;
        pair = undefined;
        node = this.#resolve(item) as Node | undefined;
      } else {
        break;
      }
      depth++;
    }
    return {node, pair, depth};
  }

  #ofNode(node: unknown): DiagnosticLocation | undefined {
    const range = (node as Node | undefined)?.range;
    if (range === undefined || range === null) return undefined;
    return this.source.location(range[0], range[1]);
  }

  /** The location of the value at `path` (or of the nearest enclosing value that exists). */
  value(path: DataPath): DiagnosticLocation {
    const covering = this.#overrideCovering(path);
    if (covering !== undefined) return covering.valueLocation;
    const {node, pair, depth} = this.#walk(path);
    if (depth < path.length) {
      const under = this.#overrideUnder(path.slice(0, depth + 1));
      if (under !== undefined) return under.pathLocation;
    }
    // A `key:` with no value has a null node without a range; point at the key then.
    return this.#ofNode(node) ?? this.#ofNode(pair?.key) ?? this.source.location(0);
  }

  /** The location of the key whose value is at `path` (for unknown or misplaced keys and missing members). */
  key(path: DataPath): DiagnosticLocation {
    const covering = this.#overrideCovering(path);
    if (covering !== undefined) {
      return covering.path.length === path.length ? covering.pathLocation : covering.valueLocation;
    }
    const under = this.#overrideUnder(path);
    const {pair, depth} = this.#walk(path);
    if (depth === path.length && pair !== undefined) {
      const location = this.#ofNode(pair.key);
      if (location !== undefined) return location;
      if (under !== undefined) return under.pathLocation;
    }
    return this.value(path);
  }

  /**
   * The location of `needle` inside the scalar at `path` (e.g. one `${...}` reference inside a longer string), found
   * in the raw source text of that scalar; the whole scalar when it cannot be found (quoting changed the text).
   */
  within(path: DataPath, needle: string): DiagnosticLocation {
    const whole = this.value(path);
    if (this.#overrideCovering(path) !== undefined) return whole;
    const {node, depth} = this.#walk(path);
    const range = node?.range;
    if (depth < path.length || range === undefined || range === null) return whole;
    const index = this.source.text.slice(range[0], range[1]).indexOf(needle);
    return index < 0 ? whole : this.source.location(range[0] + index, range[0] + index + needle.length);
  }
}

/** The pipeline data as plain JS, or a diagnostic when expanding aliases would exceed MAX_ALIAS_COUNT. */
export function pipelineData(doc: Document.Parsed, source: SourceText): Result<unknown, Diagnostic> {
  try {
    return ok(doc.toJS({maxAliasCount: MAX_ALIAS_COUNT}));
  } catch (error: unknown) {
    if (error instanceof ReferenceError) {
      let first: Node | undefined;
      const visit = (node: unknown): void => {
        if (first !== undefined) return;
        if (isAlias(node)) first = node;
        else if (isMap(node) || isSeq(node)) for (const item of node.items) visit(isPair(item) ? item.value : item);
      };
      visit(doc.contents);
      const range = first?.range;
      return fail(
        errorAt(
          'yaml-alias-limit',
          range ? source.location(range[0], range[1]) : source.location(0),
          `the YAML expands more than ${MAX_ALIAS_COUNT} aliases (an alias bomb?)`,
          'write the values out, or use fewer nested aliases',
        ),
      );
    }
    throw error;
  }
}
