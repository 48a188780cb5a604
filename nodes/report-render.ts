/**
 * Renders the report's charts: a Vega-Lite spec is compiled to Vega and drawn headless by `vega` to SVG (inlined in
 * the HTML page), and the SVG is rasterised by `resvg` to PNG (for the Markdown page). Both run in Node without a
 * browser or a canvas; text is drawn with the DejaVu Sans files of the `dejavu-fonts-ttf` package, so a PNG looks
 * the same on every machine whatever fonts it has installed.
 */
import {createRequire} from 'node:module';
import {dirname, join} from 'node:path';
import type {TopLevelSpec} from 'vega-lite';

/** The look shared by every chart: white background, DejaVu Sans, readable sizes. */
export const CHART_CONFIG = {
  background: 'white',
  font: 'DejaVu Sans, Verdana, sans-serif',
  padding: 8,
  axis: {labelFontSize: 11, titleFontSize: 12, gridColor: '#e4e4e4'},
  legend: {labelFontSize: 11, titleFontSize: 12, labelLimit: 320},
  title: {fontSize: 14, anchor: 'start'},
  view: {stroke: '#bbb'},
} as const;

const FONT_DIR = join(dirname(createRequire(import.meta.url).resolve('dejavu-fonts-ttf/package.json')), 'ttf');
const FONT_FILES = ['DejaVuSans.ttf', 'DejaVuSans-Bold.ttf'].map((f) => join(FONT_DIR, f));

/**
 * Renames every `id` in an SVG (and every reference to one) to `<prefix><n>`, numbered in order of appearance:
 * several Vega SVGs inlined in one HTML page would otherwise share ids such as `clip1`, and a chart would clip with
 * another chart's path; and Vega numbers some ids (gradients) by a process-wide counter, which would make the same
 * report differ from one run to the next in a reused worker. The caller picks the prefix (the figure's index).
 */
export function uniqueIds(svg: string, prefix: string): string {
  const names = new Map<string, string>();
  for (const match of svg.matchAll(/\bid="([^"]+)"/g)) {
    const id = match[1] ?? '';
    if (!names.has(id)) names.set(id, `${prefix}${names.size}`);
  }
  const rename = (id: string): string => names.get(id) ?? id;
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${rename(id)}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${rename(id)})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${rename(id)}"`);
}

/**
 * Draws a Vega-Lite spec as an SVG document (the CHART_CONFIG look unless the spec sets its own), its ids prefixed
 * with `idPrefix` (see uniqueIds).
 */
export async function chartSvg(spec: TopLevelSpec, idPrefix = 'chart-'): Promise<string> {
  const [vega, vegaLite] = await Promise.all([import('vega'), import('vega-lite')]);
  const compiled = vegaLite.compile({config: CHART_CONFIG, ...spec} as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), {renderer: 'none'});
  try {
    return uniqueIds(await view.toSVG(), idPrefix);
  } finally {
    view.finalize();
  }
}

/** Rasterises an SVG document to PNG bytes at `zoom` times its size (2 by default, for sharp text). */
export async function svgToPng(svg: string, zoom = 2): Promise<Buffer> {
  const {Resvg} = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, {
    background: 'white',
    fitTo: {mode: 'zoom', value: zoom},
    font: {loadSystemFonts: false, fontFiles: FONT_FILES, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans'},
  });
  return resvg.render().asPng();
}
