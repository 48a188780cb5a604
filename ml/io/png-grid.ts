/**
 * A PNG picture of an image set: one row per class, the images of that class side by side (the figure every dataset
 * distillation paper shows for its synthetic sets).
 *
 * Pixels are denormalised with the set's own mean/std, clipped to [0,1] (distilled images leave that range) and
 * enlarged by an integer nearest-neighbour factor so 28x28 or 32x32 images are visible.
 */
import {writeFile} from 'node:fs/promises';
import {PNG} from 'pngjs';
import type {Dataset} from '../data/dataset.js';

/** What the grid needs of a data set or synthetic set (a `Dataset` fits). */
export type GridImages = Pick<Dataset, 'x' | 'y' | 'n' | 'height' | 'width' | 'channels' | 'classes' | 'mean' | 'std'>;

/** Options of `renderImageGrid`. */
export interface GridOptions {
  /** Columns, i.e. images shown per class (default: the largest class count). Extra images are left out. */
  readonly perClass?: number;
  /** Integer upscaling factor (default 2). */
  readonly scale?: number;
  /** Gap between cells in output pixels (default 2). */
  readonly gap?: number;
  /** Gap colour as grey level 0..255 (default 255, white). */
  readonly background?: number;
}

/** Renders the grid as PNG bytes: greyscale PNG for 1-channel sets, RGB for 3-channel ones. */
export function renderImageGrid(images: GridImages, options: GridOptions = {}): Buffer {
  const {height, width, channels} = images;
  if (channels !== 1 && channels !== 3) throw new RangeError(`grids show 1- or 3-channel images, not ${channels}`);
  const scale = Math.max(1, Math.floor(options.scale ?? 2));
  const gap = Math.max(0, Math.floor(options.gap ?? 2));
  const rows: number[][] = Array.from({length: images.classes}, () => []);
  for (let i = 0; i < images.n; i++) rows[images.y[i] ?? 0]?.push(i);
  const columns = Math.max(1, options.perClass ?? Math.max(...rows.map((r) => r.length)));
  const cellW = width * scale;
  const cellH = height * scale;
  const png = new PNG({
    width: columns * cellW + (columns + 1) * gap,
    height: images.classes * cellH + (images.classes + 1) * gap,
    colorType: channels === 1 ? 0 : 2,
    inputColorType: 6,
    inputHasAlpha: true,
  });
  const background = options.background ?? 255;
  png.data.fill(background);
  const size = height * width * channels;
  rows.forEach((members, row) => {
    members.slice(0, columns).forEach((index, column) => {
      const left = gap + column * (cellW + gap);
      const top = gap + row * (cellH + gap);
      for (let py = 0; py < height; py++) {
        for (let px = 0; px < width; px++) {
          const rgb = [0, 0, 0].map((_, k) => {
            const c = channels === 1 ? 0 : k;
            const v = (images.x[index * size + (py * width + px) * channels + c] ?? 0) * (images.std[c] ?? 1) + (images.mean[c] ?? 0);
            return Math.round(Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * 255);
          });
          for (let dy = 0; dy < scale; dy++) {
            for (let dx = 0; dx < scale; dx++) {
              const o = ((top + py * scale + dy) * png.width + left + px * scale + dx) * 4;
              png.data[o] = rgb[0] ?? 0;
              png.data[o + 1] = rgb[1] ?? 0;
              png.data[o + 2] = rgb[2] ?? 0;
              png.data[o + 3] = 255;
            }
          }
        }
      }
    });
  });
  return PNG.sync.write(png, {colorType: channels === 1 ? 0 : 2, inputColorType: 6, inputHasAlpha: true});
}

/** Writes `renderImageGrid`'s PNG to `path`. */
export async function writeImageGrid(path: string, images: GridImages, options: GridOptions = {}): Promise<void> {
  await writeFile(path, renderImageGrid(images, options));
}
