/**
 * A small PNG line chart (e.g. the matching loss over distillation iterations), drawn pixel by pixel with pngjs.
 *
 * There is no font rendering: a chart here is a quick visual check written next to the metrics, and the exact values
 * live in the metrics JSON. So the chart has a frame for the axes, tick marks at the ends of each axis, and the
 * polylines; the y range (`yMin`/`yMax` in the returned layout) is for the caller to print or put in a file name.
 */
import {writeFile} from 'node:fs/promises';
import {PNG} from 'pngjs';

/** An RGB colour, 0..255 per channel. */
export type Rgb = readonly [number, number, number];

/** One line. Non-finite values (NaN, Infinity) leave a gap. */
export interface Series {
  readonly values: ArrayLike<number>;
  /** x of each value (default: the index). Must be increasing. */
  readonly x?: ArrayLike<number>;
  readonly color?: Rgb;
}

/** Options of `renderLinePlot`. */
export interface LinePlotOptions {
  readonly width?: number;
  readonly height?: number;
  /** Space between the image border and the plot area, in pixels (default 12). */
  readonly margin?: number;
  /** Plot log10(y) (loss curves); non-positive values leave gaps. */
  readonly logY?: boolean;
  /** Fixed y range; default the finite min/max over all series. */
  readonly yRange?: readonly [number, number];
  /** Line width in pixels (default 1). */
  readonly lineWidth?: number;
}

/** Where things ended up, so tests and callers can map data to pixels. */
export interface LinePlotLayout {
  readonly width: number;
  readonly height: number;
  /** Plot area in pixels: x in [left, right], y in [top, bottom] (bottom is the x axis). */
  readonly left: number;
  readonly right: number;
  readonly top: number;
  readonly bottom: number;
  readonly xMin: number;
  readonly xMax: number;
  /** The y range shown (in log10 units when `logY`). */
  readonly yMin: number;
  readonly yMax: number;
}

/** Default series colours (a colour-blind-safe palette: blue, orange, green, red, purple). */
export const SERIES_COLORS: readonly Rgb[] = [
  [0, 114, 178],
  [230, 159, 0],
  [0, 158, 115],
  [213, 94, 0],
  [204, 121, 167],
];

/** The axis colour. */
export const AXIS_COLOR: Rgb = [0, 0, 0];

/** Renders series as an RGB PNG on white, with the pixel layout used. */
export function renderLinePlot(series: readonly Series[], options: LinePlotOptions = {}): {png: Buffer; layout: LinePlotLayout} {
  const width = Math.max(16, Math.floor(options.width ?? 480));
  const height = Math.max(16, Math.floor(options.height ?? 270));
  const margin = Math.max(2, Math.floor(options.margin ?? 12));
  const transform = (v: number): number => (options.logY === true ? (v > 0 ? Math.log10(v) : NaN) : v);
  const points = series.map((s) =>
    Array.from({length: s.values.length}, (_, i) => ({x: s.x?.[i] ?? i, y: transform(s.values[i] ?? NaN)})),
  );
  const xs = range(points.flatMap((line) => line.filter((p) => Number.isFinite(p.y)).map((p) => p.x)));
  const ys =
    options.yRange === undefined
      ? range(points.flatMap((line) => line.map((p) => p.y)))
      : range(options.yRange.map(transform));
  const layout: LinePlotLayout = {
    width,
    height,
    left: margin,
    right: width - 1 - margin,
    top: margin,
    bottom: height - 1 - margin,
    xMin: xs[0],
    xMax: xs[1],
    yMin: ys[0],
    yMax: ys[1],
  };
  const png = new PNG({width, height, colorType: 2, inputColorType: 6, inputHasAlpha: true});
  png.data.fill(255);
  const set = (px: number, py: number, color: Rgb): void => {
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    const o = (py * width + px) * 4;
    png.data[o] = color[0];
    png.data[o + 1] = color[1];
    png.data[o + 2] = color[2];
    png.data[o + 3] = 255;
  };
  // Axes: left and bottom edges of the plot area, with ticks just outside at both ends of each.
  const {left, right, top, bottom} = layout;
  drawLine(left, top, left, bottom, 1, AXIS_COLOR, set);
  drawLine(left, bottom, right, bottom, 1, AXIS_COLOR, set);
  for (const tx of [left, right]) drawLine(tx, bottom, tx, bottom + 4, 1, AXIS_COLOR, set);
  for (const ty of [top, bottom]) drawLine(left - 4, ty, left, ty, 1, AXIS_COLOR, set);
  const toPixel = (p: {x: number; y: number}): [number, number] => [
    Math.round(left + ((p.x - layout.xMin) / (layout.xMax - layout.xMin)) * (right - left)),
    Math.round(bottom - ((Math.min(layout.yMax, Math.max(layout.yMin, p.y)) - layout.yMin) / (layout.yMax - layout.yMin)) * (bottom - top)),
  ];
  const lineWidth = Math.max(1, Math.floor(options.lineWidth ?? 1));
  points.forEach((line, k) => {
    const color = series[k]?.color ?? SERIES_COLORS[k % SERIES_COLORS.length] ?? AXIS_COLOR;
    let previous: [number, number] | undefined;
    for (const point of line) {
      if (!Number.isFinite(point.x) || !Number.isFinite(point.y)) {
        previous = undefined;
        continue;
      }
      const current = toPixel(point);
      if (previous === undefined) drawLine(current[0], current[1], current[0], current[1], lineWidth, color, set);
      else drawLine(previous[0], previous[1], current[0], current[1], lineWidth, color, set);
      previous = current;
    }
  });
  return {png: PNG.sync.write(png, {colorType: 2, inputColorType: 6, inputHasAlpha: true}), layout};
}

/** Writes `renderLinePlot`'s PNG to `path` and returns the layout. */
export async function writeLinePlot(path: string, series: readonly Series[], options: LinePlotOptions = {}): Promise<LinePlotLayout> {
  const {png, layout} = renderLinePlot(series, options);
  await writeFile(path, png);
  return layout;
}

/**
 * The finite min and max of `values`, widened to a non-empty interval: a flat series or a single point still needs a
 * range to map onto, and no data at all gets [0, 1]. Loops instead of `Math.min(...)`, which overflows the stack on
 * long series.
 */
function range(values: readonly number[]): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo === Infinity) return [0, 1];
  return hi > lo ? [lo, hi] : [lo - 0.5, lo + 0.5];
}

/** Bresenham's line from (x0,y0) to (x1,y1), each point stamped as a `lineWidth` square. */
function drawLine(
  x0: number,
  y0: number,
  x1: number,
  y1: number,
  lineWidth: number,
  color: Rgb,
  set: (x: number, y: number, color: Rgb) => void,
): void {
  const dx = Math.abs(x1 - x0);
  const dy = -Math.abs(y1 - y0);
  const sx = x0 < x1 ? 1 : -1;
  const sy = y0 < y1 ? 1 : -1;
  const half = Math.floor((lineWidth - 1) / 2);
  let err = dx + dy;
  let x = x0;
  let y = y0;
  for (;;) {
    for (let a = -half; a < lineWidth - half; a++) for (let b = -half; b < lineWidth - half; b++) set(x + a, y + b, color);
    if (x === x1 && y === y1) return;
    const e2 = 2 * err;
    if (e2 >= dy) {
      err += dy;
      x += sx;
    }
    if (e2 <= dx) {
      err += dx;
      y += sy;
    }
  }
}
