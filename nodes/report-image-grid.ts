/**
 * A labelled picture of an image set for the report: the pixel grid of `ml/io/png-grid.ts` (one row per class) with
 * each row's class name written beside it. Composed as a small SVG (the PNG embedded, the names as text) so the HTML
 * page can inline it and resvg can rasterise it for the Markdown page; a chart library has no mark for a pixel grid,
 * and this is a few lines of layout.
 */
import {renderImageGrid, type GridImages} from '../ml/io/png-grid.js';

/** Scale and gap passed to the pixel grid; the row positions below follow from them. */
const SCALE = 2;
const GAP = 2;
const FONT_SIZE = 12;

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Width and height of a PNG, from its IHDR chunk. */
export function pngSize(png: Buffer): {width: number; height: number} {
  return {width: png.readUInt32BE(16), height: png.readUInt32BE(20)};
}

/** The labelled grid as an SVG document: class names right-aligned in a column left of their rows. */
export function labelledGridSvg(images: GridImages & {readonly classNames: readonly string[]}): string {
  const png = renderImageGrid(images, {scale: SCALE, gap: GAP});
  const {width, height} = pngSize(png);
  const names = Array.from({length: images.classes}, (_, c) => images.classNames[c] ?? `class ${c}`);
  // DejaVu Sans averages about 0.62 em per character; the column fits the longest name.
  const labelWidth = Math.ceil(Math.max(...names.map((n) => n.length), 1) * FONT_SIZE * 0.62) + 12;
  const cell = images.height * SCALE;
  const labels = names.map((name, row) => {
    const y = GAP + row * (cell + GAP) + cell / 2;
    return `<text x="${labelWidth - 8}" y="${y}" text-anchor="end" dominant-baseline="central">${escapeXml(name)}</text>`;
  });
  const total = labelWidth + width;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${total}" height="${height}" viewBox="0 0 ${total} ${height}">`,
    `<rect width="${total}" height="${height}" fill="white"/>`,
    `<g font-family="DejaVu Sans, Verdana, sans-serif" font-size="${FONT_SIZE}" fill="#222">${labels.join('')}</g>`,
    `<image x="${labelWidth}" y="0" width="${width}" height="${height}" image-rendering="optimizeSpeed" style="image-rendering:pixelated" xlink:href="data:image/png;base64,${png.toString('base64')}"/>`,
    '</svg>',
  ].join('\n');
}
