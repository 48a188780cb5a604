/**
 * The full analysis of a pipeline's text: parse the YAML, apply `--set` overrides, validate, load the node types,
 * expand the grid, check the wiring and compute keys. Every problem found on the way is collected and returned together
 * as located diagnostics. (analyze-pipeline.ts reads the file and skips this when a stored analysis still holds.)
 */
import path from 'node:path';
import {buildPlan} from './build-plan.js';
import {checkConnections} from './check-connections.js';
import type {Diagnostic} from './diagnostic.js';
import {dedupeDiagnostics, sortDiagnostics} from './diagnostic.js';
import {expand} from './expand.js';
import {getHasher} from './keys.js';
import type {Limits} from './limits.js';
import {PipelineLocator, parsePipelineText, pipelineData} from './pipeline-document.js';
import {readPipelineSpec} from './pipeline-spec.js';
import type {Plan} from './plan.js';
import type {NodeTypeRegistry} from './registry.js';
import {buildRegistry} from './registry.js';
import {ReferenceResolver} from './resolve-references.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {applyOverrides} from './set-overrides.js';
import {SourceText} from './source-text.js';
import {validatePipelineSchema} from './validate-pipeline-schema.js';

/** What the analysis of a text needs. */
export interface SourceInput {
  /** Absolute path of the pipeline file. */
  readonly absolute: string;
  /** The file name diagnostics show. */
  readonly display: string;
  readonly text: string;
  readonly sets: readonly string[];
  readonly limits: Limits;
  /** The declared environment that goes into keys, or the diagnostic of a bad setting. */
  readonly environment: Result<Readonly<Record<string, string>>, Diagnostic>;
}

/** How the node types were found: enough to build the same registry again without the YAML. */
export interface RegistryRequest {
  /** The `imports:` specifiers, in order. */
  readonly imports: readonly string[];
  /** The node types the pipeline's nodes name. */
  readonly wanted: readonly string[];
}

/** The outcome, with the registry it used when the analysis got that far. */
export interface SourceAnalysis {
  readonly result: Result<Plan, readonly Diagnostic[]>;
  readonly registry?: {readonly request: RegistryRequest; readonly types: NodeTypeRegistry};
}

function failed(diagnostics: readonly Diagnostic[]): {ok: false; error: readonly Diagnostic[]} {
  return fail(sortDiagnostics(dedupeDiagnostics(diagnostics)));
}

/** Analyzes a pipeline's text into a Plan, or every problem found. */
export async function analyzeSource(input: SourceInput): Promise<SourceAnalysis> {
  const {absolute, sets} = input;
  const source = new SourceText(input.display, input.text);
  const parsed = parsePipelineText(source);
  if (!parsed.ok) return {result: failed(parsed.error)};
  const doc = parsed.value;
  const locator = new PipelineLocator(source, doc);
  const diagnostics: Diagnostic[] = [...applyOverrides(doc, sets, locator)];
  const data = pipelineData(doc, source);
  if (!data.ok) return {result: failed([...diagnostics, data.error])};

  diagnostics.push(...validatePipelineSchema(data.value, locator));
  const {spec, diagnostics: specDiagnostics} = readPipelineSpec(data.value, absolute, locator);
  diagnostics.push(...specDiagnostics);

  const environment = input.environment;
  if (!environment.ok) diagnostics.push(environment.error);
  const hasher = await getHasher();
  const request: RegistryRequest = {
    imports: spec.imports.map((i) => i.specifier),
    wanted: [...spec.nodes.values()].flatMap((n) => (n.type === undefined ? [] : [n.type])),
  };
  const {registry, diagnostics: importDiagnostics} = await buildRegistry(
    spec.imports.map((i) => ({specifier: i.specifier, location: locator.value(i.path)})),
    path.dirname(absolute),
    hasher,
    request.wanted,
  );
  diagnostics.push(...importDiagnostics);

  const wiring = checkConnections(spec, registry, locator);
  diagnostics.push(...wiring.diagnostics);
  const resolver = new ReferenceResolver(spec, locator);
  const expansion = expand({
    maxInstances: input.limits.instances,
    spec,
    order: wiring.order,
    types: wiring.types,
    inputs: wiring.inputs,
    counts: wiring.counts,
    resolver,
    locator,
    hasher,
    environment: environment.ok ? environment.value : {},
  });
  // Nodes on or below a cycle were not expanded; still report their reference problems.
  const expanded = new Set(wiring.order);
  for (const node of spec.nodes.values()) {
    if (!expanded.has(node.name)) resolver.gridOfValue(node.with, ['nodes', node.name, 'with']);
  }
  diagnostics.push(...resolver.diagnostics, ...expansion.diagnostics);
  const used = {request, types: registry};
  if (diagnostics.some((d) => d.severity === 'error')) return {result: failed(diagnostics), registry: used};
  const plan = {...buildPlan(spec, absolute, expansion.instances), overrides: [...sets]};
  return {
    result: ok(diagnostics.length === 0 ? plan : {...plan, warnings: sortDiagnostics(dedupeDiagnostics(diagnostics))}),
    registry: used,
  };
}
