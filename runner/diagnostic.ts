/**
 * Located problems in a pipeline (or its command line), and their rendering for humans.
 *
 * Every expected failure of the front-end (load, validate, expand, analyze) becomes a Diagnostic that points at the
 * offending text, so users fix the file rather than read a stack trace. The rendering follows wireit's printer:
 * `error: file:line:col message`, the source line, a squiggle under the offending text, then an optional hint.
 */

/** Why a diagnostic was raised: one literal per kind of problem, so tests and tools can match on it. */
export type DiagnosticReason =
  /** The pipeline file could not be read. */
  | 'file-unreadable'
  /** The YAML text does not parse (includes duplicate keys). */
  | 'yaml-syntax'
  /** The YAML expands too many aliases (an alias "bomb"). */
  | 'yaml-alias-limit'
  /** A key the pipeline schema does not allow (typo, or `__proto__`). */
  | 'unknown-key'
  /** A required key is missing. */
  | 'missing-key'
  /** A value has the wrong shape or type for the pipeline schema. */
  | 'invalid-value'
  /** A node or grid name that is not a valid identifier. */
  | 'invalid-name'
  /** A `grid:` variable with no values. */
  | 'empty-grid'
  /** A `grid:` variable that lists one value twice (`[1, 1.0]`). */
  | 'duplicate-grid-value'
  /** A `grid:` variable that no node uses, so it expands nothing (a warning). */
  | 'unused-grid-variable'
  /** `repeat:` is not a positive integer. */
  | 'bad-repeat'
  /** The plan would have more instances (or grid variants) than the limit (DISTILLERY_MAX_INSTANCES). */
  | 'too-many-instances'
  /** A `type:` that no built-in or imported module defines. */
  | 'unknown-node-type'
  /** Two modules define the same node type. */
  | 'duplicate-node-type'
  /** An `imports:` module that cannot be loaded or does not export node types. */
  | 'import-failed'
  /** `with:` fails the node type's params schema. */
  | 'invalid-params'
  /** A value that JSON cannot hold (NaN, infinity). */
  | 'not-json'
  /** An `in:` value that is not a valid reference (`node`, `node.port`, `node[*]`, `node[each]`, `node[2]`). */
  | 'bad-input-reference'
  /** An `in:` reference to a node that does not exist. */
  | 'missing-node'
  /** An `in:` port or upstream output port that does not exist. */
  | 'missing-port'
  /** An upstream with several outputs referenced without naming one. */
  | 'ambiguous-port'
  /** `node[i]` with i out of range. */
  | 'bad-index'
  /** A `many` port fed a single instance (or `node[each]`), or a single port fed several. */
  | 'port-multiplicity'
  /** A node mapping over `node[each]` that also has `repeat:`, or maps over upstreams with different instance counts. */
  | 'bad-map'
  /** The upstream output kind differs from the input port kind. */
  | 'kind-mismatch'
  /** A required input port left unconnected. */
  | 'missing-input'
  /** Nodes that depend on themselves through `in:`. */
  | 'cycle'
  /** A `${...}` reference that names nothing (or params that refer to each other in a loop). */
  | 'undefined-reference'
  /** A `--set` override with a bad path or value. */
  | 'bad-override'
  /** The environment (e.g. `DISTILLERY_BACKEND`) is invalid. */
  | 'bad-environment'
  /** A remote cache that cannot be used: unknown name, bad or credential-bearing URL (config, `--remote`, DISTILLERY_REMOTE). */
  | 'bad-remote'
  /** Cluster settings that cannot be used: a bad Redis URL or queue name (config, `--redis`, `--queue`, DISTILLERY_REDIS). */
  | 'bad-cluster';

/** A place in a source text. `line` and `col` are 1-based; `length` is the number of characters to underline. */
export interface DiagnosticLocation {
  /** The file as shown to the user (relative to the working directory), or `command line`. */
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly length?: number;
  /** The text of the line, so rendering needs no file access (and works for the command line). */
  readonly lineText?: string;
}

/** A secondary location that explains a diagnostic (e.g. each edge of a cycle). */
export interface SupplementalLocation {
  readonly message: string;
  readonly location: DiagnosticLocation;
}

/** One problem. */
export interface Diagnostic {
  readonly severity: 'error' | 'warning';
  readonly reason: DiagnosticReason;
  readonly message: string;
  readonly location: DiagnosticLocation;
  readonly hint?: string;
  readonly supplemental?: readonly SupplementalLocation[];
}

/** Builds an error diagnostic, leaving out an undefined hint (so golden tests compare clean objects). */
export function errorAt(
  reason: DiagnosticReason,
  location: DiagnosticLocation,
  message: string,
  hint?: string,
  supplemental?: readonly SupplementalLocation[],
): Diagnostic {
  return {...warningAt(reason, location, message, hint, supplemental), severity: 'error'};
}

/** A located warning: reported, but the pipeline still plans and runs. */
export function warningAt(
  reason: DiagnosticReason,
  location: DiagnosticLocation,
  message: string,
  hint?: string,
  supplemental?: readonly SupplementalLocation[],
): Diagnostic {
  return {
    severity: 'warning',
    reason,
    message,
    location,
    ...(hint === undefined ? {} : {hint}),
    ...(supplemental === undefined || supplemental.length === 0 ? {} : {supplemental}),
  };
}

const ANSI = {red: '\x1b[31m', yellow: '\x1b[33m', cyan: '\x1b[36m', bold: '\x1b[1m', dim: '\x1b[2m', reset: '\x1b[0m'};

/** Orders diagnostics by file, then position, so output does not depend on the order the checks ran in. */
export function sortDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  return [...diagnostics].sort(
    (a, b) =>
      (a.location.file === 'command line' ? 1 : 0) - (b.location.file === 'command line' ? 1 : 0) ||
      a.location.file.localeCompare(b.location.file) ||
      a.location.line - b.location.line ||
      a.location.col - b.location.col ||
      a.message.localeCompare(b.message),
  );
}

/** Drops exact repeats (a grid node reports the same problem once per variant otherwise). */
export function dedupeDiagnostics(diagnostics: readonly Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics.filter((d) => {
    const id = `${d.reason}\0${d.location.file}:${d.location.line}:${d.location.col}\0${d.message}\0${d.hint ?? ''}`;
    if (seen.has(id)) return false;
    seen.add(id);
    return true;
  });
}

/**
 * Renders the source line with a squiggle under the located text. Tabs become single spaces on both lines so the
 * squiggle stays aligned; a range that runs past the line end is cut at the line end.
 */
function excerpt(location: DiagnosticLocation, paint: (code: string, text: string) => string): string[] {
  if (location.lineText === undefined) return [];
  const text = location.lineText.replace(/\t/g, ' ');
  const start = Math.max(0, location.col - 1);
  const width = Math.max(1, Math.min(location.length ?? 1, Math.max(1, text.length - start)));
  return [`    ${text}`, `    ${' '.repeat(start)}${paint(ANSI.red, '~'.repeat(width))}`];
}

function position(location: DiagnosticLocation): string {
  return `${location.file}:${location.line}:${location.col}`;
}

/**
 * Renders diagnostics for a terminal: each as `error: file:line:col message`, the source line, a `~~~~` squiggle,
 * `hint: ...`, then each supplemental location the same way, and a final count line. `color` adds ANSI colours.
 */
export function renderDiagnostics(diagnostics: readonly Diagnostic[], options: {color: boolean}): string {
  const paint = (code: string, text: string): string => (options.color ? `${code}${text}${ANSI.reset}` : text);
  const out: string[] = [];
  for (const d of diagnostics) {
    const label = d.severity === 'error' ? paint(ANSI.red + ANSI.bold, 'error') : paint(ANSI.yellow + ANSI.bold, 'warning');
    out.push(`${label}: ${paint(ANSI.bold, position(d.location))} ${d.message}`);
    out.push(...excerpt(d.location, paint));
    if (d.hint !== undefined) out.push(`  ${paint(ANSI.cyan, 'hint:')} ${d.hint}`);
    for (const s of d.supplemental ?? []) {
      out.push(`  ${paint(ANSI.dim, position(s.location))} ${s.message}`);
      out.push(...excerpt(s.location, paint).map((line) => `  ${line}`));
    }
    out.push('');
  }
  const errors = diagnostics.filter((d) => d.severity === 'error').length;
  const warnings = diagnostics.length - errors;
  const counts = [
    errors > 0 ? `${errors} ${errors === 1 ? 'error' : 'errors'}` : undefined,
    warnings > 0 ? `${warnings} ${warnings === 1 ? 'warning' : 'warnings'}` : undefined,
  ].filter((s) => s !== undefined);
  out.push(counts.length === 0 ? 'no problems' : counts.join(', '));
  return out.join('\n') + '\n';
}
