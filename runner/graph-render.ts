/** The instance graph of a plan as Mermaid or Graphviz DOT text (for `distillery graph`). */
import type {Plan} from './plan.js';
import {unreachable} from './unreachable.js';

/** The supported output formats. */
export const GRAPH_FORMATS = ['mermaid', 'dot'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

function mermaidLabel(text: string): string {
  // Mermaid labels are quoted; a quote inside must be an entity, and < > would be read as HTML.
  return text.replace(/"/g, '#quot;').replace(/</g, '#lt;').replace(/>/g, '#gt;');
}

function dotString(text: string): string {
  // Graphviz escapes: backslash and quote, and a line break as the two characters \n (a centred line).
  return `"${text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
}

/** Renders the plan's instances (in plan order) and their input edges, labelled with the input port. */
export function renderGraph(plan: Plan, format: GraphFormat): string {
  const lines: string[] = [];
  switch (format) {
    case 'mermaid': {
      // Instance ids contain [ ] { } = , which Mermaid ids cannot; number them and show the id as the label.
      const short = new Map(plan.order.map((id, i) => [id, `n${i}`]));
      lines.push('flowchart LR');
      for (const id of plan.order) {
        const node = plan.nodes.get(id);
        lines.push(`  ${short.get(id)}["${mermaidLabel(id)}<br/>${mermaidLabel(node?.type ?? '')}"]`);
      }
      for (const id of plan.order) {
        for (const input of plan.nodes.get(id)?.inputs ?? []) {
          for (const from of input.from) lines.push(`  ${short.get(from)} -->|${mermaidLabel(input.port)}| ${short.get(id)}`);
        }
      }
      break;
    }
    case 'dot': {
      lines.push(`digraph ${dotString(plan.name)} {`, '  rankdir=LR;', '  node [shape=box];');
      for (const id of plan.order) {
        lines.push(`  ${dotString(id)} [label=${dotString(`${id}\n${plan.nodes.get(id)?.type ?? ''}`)}];`);
      }
      for (const id of plan.order) {
        for (const input of plan.nodes.get(id)?.inputs ?? []) {
          for (const from of input.from) lines.push(`  ${dotString(from)} -> ${dotString(id)} [label=${dotString(input.port)}];`);
        }
      }
      lines.push('}');
      break;
    }
    default:
      unreachable(format);
  }
  return lines.join('\n') + '\n';
}
