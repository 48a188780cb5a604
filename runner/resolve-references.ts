/**
 * Resolves `${params.*}` and `${grid.*}` references: reports malformed and undefined ones (and params that refer to
 * each other in a loop), works out which grid variables each param and node depends on, and substitutes values for
 * one grid assignment.
 */
import type {JsonValue} from '../nodes/api.js';
import {canonicalJson} from './canonical-json.js';
import type {Diagnostic} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {didYouMeanHint} from './did-you-mean.js';
import type {DataPath, PipelineLocator} from './pipeline-document.js';
import type {PipelineSpec} from './pipeline-spec.js';
import type {Reference} from './references.js';
import {isReference, referencesIn, stringsIn, substitute} from './references.js';

/** A grid assignment: variable -> value. */
export type GridAssignment = Readonly<Record<string, JsonValue>>;

/** References of one param or node, found once and reused for every grid assignment. */
interface Found {
  readonly ref: Reference;
  readonly path: DataPath;
}

/** The reference resolver of one pipeline. Construct it, read `diagnostics`, then ask for grids and values. */
export class ReferenceResolver {
  readonly diagnostics: Diagnostic[] = [];
  readonly #spec: PipelineSpec;
  readonly #locator: PipelineLocator;
  readonly #paramRefs = new Map<string, Found[]>();
  readonly #paramGrid = new Map<string, ReadonlySet<string>>();
  readonly #cyclic = new Set<string>();
  readonly #memo = new Map<string, JsonValue>();

  constructor(spec: PipelineSpec, locator: PipelineLocator) {
    this.#spec = spec;
    this.#locator = locator;
    for (const [name, value] of spec.params) this.#paramRefs.set(name, this.#scan(value, ['params', name]));
    for (const name of spec.params.keys()) this.#gridOfParam(name, []);
  }

  /** Finds the references in a value, reporting malformed and undefined ones. */
  #scan(value: unknown, base: DataPath): Found[] {
    const found: Found[] = [];
    for (const {path, text} of stringsIn(value)) {
      const at = [...base, ...path];
      for (const ref of referencesIn(text)) {
        if (!isReference(ref)) {
          this.diagnostics.push(
            errorAt('undefined-reference', this.#locator.within(at, ref.text), `cannot resolve ${ref.text}`,
              'only ${params.NAME} and ${grid.NAME} can be referenced'),
          );
        } else if (ref.scope === 'params' && !this.#spec.params.has(ref.name)) {
          const names = [...this.#spec.params.keys()];
          this.diagnostics.push(
            errorAt('undefined-reference', this.#locator.within(at, ref.text), `${ref.text}: there is no param "${ref.name}"`,
              didYouMeanHint(ref.name, names) ?? (names.length === 0 ? 'define it under params:' : `params: ${names.join(', ')}`)),
          );
        } else if (ref.scope === 'grid' && !this.#spec.gridNames.has(ref.name)) {
          const names = [...this.#spec.gridNames];
          this.diagnostics.push(
            errorAt('undefined-reference', this.#locator.within(at, ref.text), `${ref.text}: there is no grid variable "${ref.name}"`,
              didYouMeanHint(ref.name, names) ?? (names.length === 0 ? 'define it under grid:' : `grid variables: ${names.join(', ')}`)),
          );
        } else if (ref.scope === 'params' || this.#spec.grid.has(ref.name)) {
          found.push({ref, path: at});
        }
      }
    }
    return found;
  }

  /** The grid variables a param depends on, directly or through other params; reports reference loops. */
  #gridOfParam(name: string, trail: readonly {name: string; path: DataPath}[]): ReadonlySet<string> {
    const known = this.#paramGrid.get(name);
    if (known !== undefined) return known;
    const loopStart = trail.findIndex((t) => t.name === name);
    if (loopStart >= 0) {
      const loop = [...trail.slice(loopStart).map((t) => t.name), name];
      const closing = trail[trail.length - 1];
      if (!loop.some((n) => this.#cyclic.has(n))) {
        this.diagnostics.push(
          errorAt('undefined-reference', closing === undefined ? this.#locator.value(['params', name]) : this.#locator.within(closing.path, `\${params.${name}}`),
            `params refer to each other in a loop: ${loop.map((n) => `params.${n}`).join(' -> ')}`, 'give one of them a value'),
        );
      }
      for (const n of loop) this.#cyclic.add(n);
      return new Set();
    }
    const grid = new Set<string>();
    for (const {ref, path} of this.#paramRefs.get(name) ?? []) {
      if (ref.scope === 'grid') grid.add(ref.name);
      else for (const g of this.#gridOfParam(ref.name, [...trail, {name, path}])) grid.add(g);
    }
    // Loops are reported once; members still get a (partial) answer so later checks do not stop.
    if (!this.#cyclic.has(name) || trail.length === 0) this.#paramGrid.set(name, grid);
    return grid;
  }

  /**
   * Scans a node's `with:`: the grid variables it uses directly (through params too), and whether any reference in
   * it is broken (then its params are not checked further: the values would be the unresolved text).
   */
  gridOfValue(value: unknown, base: DataPath): {grid: Set<string>; broken: boolean} {
    const before = this.diagnostics.length;
    const grid = new Set<string>();
    const found = this.#scan(value, base);
    for (const {ref} of found) {
      if (ref.scope === 'grid') grid.add(ref.name);
      else for (const g of this.#paramGrid.get(ref.name) ?? []) grid.add(g);
    }
    const broken = this.diagnostics.length > before || found.some((f) => f.ref.scope === 'params' && this.#cyclic.has(f.ref.name));
    return {grid, broken};
  }

  #lookup(ref: Reference, grid: GridAssignment): JsonValue | undefined {
    if (ref.scope === 'grid') return grid[ref.name];
    if (this.#cyclic.has(ref.name)) return undefined;
    const deps = [...(this.#paramGrid.get(ref.name) ?? [])].sort();
    const projection = canonicalJson(Object.fromEntries(deps.map((d) => [d, grid[d] ?? null])));
    const memoKey = `${ref.name}\0${projection.ok ? projection.value : ''}`;
    let value = this.#memo.get(memoKey);
    if (value === undefined) {
      value = substitute(this.#spec.params.get(ref.name), (r) => this.#lookup(r, grid));
      this.#memo.set(memoKey, value);
    }
    return value;
  }

  /** `value` with every reference substituted for the grid assignment `grid`. */
  resolve(value: unknown, grid: GridAssignment): JsonValue {
    return substitute(value, (ref) => this.#lookup(ref, grid));
  }
}
