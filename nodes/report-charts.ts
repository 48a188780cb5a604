/**
 * The report's charts as Vega-Lite specs (a grammar of graphics: data plus encodings; axes with ticks and titles and
 * legends come from Vega-Lite): every matching-loss curve of the grid on one chart, accuracy bars with error bars,
 * and an accuracy heatmap over two grid variables with the baselines beside it on the same colour scale.
 */
import type {TopLevelSpec} from 'vega-lite';
import type {JsonValue} from './api.js';
import type {ReportRow, RowKind} from './report-table.js';

/** One distillation's curves: the matching loss and the learned lr per outer iteration. */
export interface CurveSeries {
  readonly id: string;
  readonly loss: readonly number[];
  readonly synLr: readonly number[];
}

const SCHEMA = 'https://vega.github.io/schema/vega-lite/v6.json';

/** Colours per row kind, so bars read the same in every report. */
const KIND_COLORS: Readonly<Record<RowKind, string>> = {
  distilled: '#1f77b4',
  random: '#ff7f0e',
  real: '#2ca02c',
  teacher: '#9467bd',
  other: '#7f7f7f',
};

/** Points of the curves that a log scale can show (positive and finite). */
function points(curves: readonly CurveSeries[], pick: (c: CurveSeries) => readonly number[]): {id: string; iteration: number; value: number}[] {
  return curves.flatMap((c) =>
    pick(c).flatMap((value, iteration) => (Number.isFinite(value) && value > 0 ? [{id: c.id, iteration, value}] : [])),
  );
}

function lineChart(title: string, yTitle: string, values: {id: string; iteration: number; value: number}[], logY: boolean): TopLevelSpec {
  return {
    $schema: SCHEMA,
    title,
    width: 520,
    height: 260,
    data: {values},
    mark: {type: 'line', strokeWidth: 1.8, interpolate: 'linear'},
    encoding: {
      x: {field: 'iteration', type: 'quantitative', title: 'outer iteration', axis: {tickMinStep: 1}},
      y: {field: 'value', type: 'quantitative', title: yTitle, scale: logY ? {type: 'log'} : {zero: false}},
      color: {field: 'id', type: 'nominal', title: 'distillation', legend: {orient: 'right'}},
    },
  };
}

/** All matching-loss curves on one chart (log y), one colour per distillation with a legend. */
export function lossCurvesChart(curves: readonly CurveSeries[]): TopLevelSpec {
  return lineChart('Matching loss per outer iteration', 'matching loss (log scale)', points(curves, (c) => c.loss), true);
}

/** The learned student learning rate (syn_lr) of every distillation over the iterations. */
export function learnedLrChart(curves: readonly CurveSeries[]): TopLevelSpec {
  return lineChart('Learned student learning rate', 'syn_lr', points(curves, (c) => c.synLr), false);
}

/** Test accuracy of every evaluated set as a horizontal bar with a +- std error bar, coloured by what it is. */
export function accuracyBarsChart(rows: readonly ReportRow[]): TopLevelSpec {
  const kinds = [...new Set(rows.map((r) => r.kind))];
  const values = rows.map((r) => ({
    label: r.id,
    kind: r.kind,
    accuracy: r.accuracy,
    lo: r.accuracy - r.std,
    hi: r.accuracy + r.std,
    text: `${r.accuracy.toFixed(2)} ± ${r.std.toFixed(2)}`,
  }));
  const y = {field: 'label', type: 'nominal', title: null, sort: null, axis: {labelLimit: 260}} as const;
  return {
    $schema: SCHEMA,
    title: 'Test accuracy per set (mean ± std over student seeds, or over the instances of a repeated node)',
    width: 420,
    height: {step: 22},
    data: {values},
    layer: [
      {
        mark: {type: 'bar', opacity: 0.85},
        encoding: {
          y,
          x: {field: 'accuracy', type: 'quantitative', title: 'test accuracy (%)', scale: {zero: true}},
          color: {
            field: 'kind',
            type: 'nominal',
            title: 'trained on',
            scale: {domain: kinds, range: kinds.map((k) => KIND_COLORS[k])},
          },
        },
      },
      {mark: {type: 'rule', color: 'black', strokeWidth: 1.5}, encoding: {y, x: {field: 'lo', type: 'quantitative'}, x2: {field: 'hi'}}},
      {mark: {type: 'tick', color: 'black', thickness: 1.5, size: 10, orient: 'vertical'}, encoding: {y, x: {field: 'lo', type: 'quantitative'}}},
      {mark: {type: 'tick', color: 'black', thickness: 1.5, size: 10, orient: 'vertical'}, encoding: {y, x: {field: 'hi', type: 'quantitative'}}},
      {mark: {type: 'text', align: 'left', dx: 4, fontSize: 10}, encoding: {y, x: {field: 'hi', type: 'quantitative'}, text: {field: 'text'}}},
    ],
  };
}

function show(value: JsonValue | undefined): string {
  return typeof value === 'string' ? value : JSON.stringify(value ?? null);
}

/**
 * The two grid variables a heatmap spans, `alpha` down and `T` across when the grid has them (the paper's
 * layout), else the first two in name order; undefined when the distilled rows vary over fewer than one.
 */
export function heatmapAxes(rows: readonly ReportRow[]): {x: string | undefined; y: string} | undefined {
  const keys = [...new Set(rows.filter((r) => r.kind === 'distilled').flatMap((r) => Object.keys(r.grid)))].sort();
  if (keys.length === 0) return undefined;
  const y = keys.includes('alpha') ? 'alpha' : (keys[0] ?? '');
  const rest = keys.filter((k) => k !== y);
  const x = rest.includes('T') ? 'T' : rest[0];
  return {x, y};
}

/**
 * Accuracy over the grid as a heatmap (a cell per variant, its value written in it) and, beside it on the same
 * colour scale, a column of the baselines (plain MTT, the random subsets' mean, the teacher ...), so a cell that is
 * darker than a baseline beat it. Undefined when no distilled row has grid values.
 */
export function accuracyHeatmap(rows: readonly ReportRow[]): TopLevelSpec | undefined {
  const axes = heatmapAxes(rows);
  if (axes === undefined) return undefined;
  const gridRows = rows.filter((r) => r.kind === 'distilled' && Object.keys(r.grid).length > 0);
  const cells = gridRows.map((r) => ({
    x: axes.x === undefined ? '' : show(r.grid[axes.x]),
    y: show(r.grid[axes.y]),
    accuracy: r.accuracy,
    text: `${r.accuracy.toFixed(1)} ± ${r.std.toFixed(1)}`,
  }));
  const baselines = rows
    .filter((r) => !gridRows.includes(r))
    .map((r) => ({baseline: `${r.id} (${r.kind === 'distilled' ? (r.distillAlpha === 0 ? 'plain MTT' : 'distilled') : r.kind})`, accuracy: r.accuracy, text: `${r.accuracy.toFixed(1)} ± ${r.std.toFixed(1)}`}));
  const all = [...cells.map((c) => c.accuracy), ...baselines.map((b) => b.accuracy)];
  const color = {
    field: 'accuracy',
    type: 'quantitative',
    title: 'accuracy (%)',
    scale: {scheme: 'viridis', domain: [Math.min(...all), Math.max(...all)]},
  } as const;
  const label = {
    mark: {type: 'text', fontSize: 11},
    encoding: {
      text: {field: 'text'},
      color: {condition: {test: `datum.accuracy > ${(Math.min(...all) + Math.max(...all)) / 2}`, value: 'black'}, value: 'white'},
    },
  } as const;
  const heat = {
    title: `Distilled sets over ${axes.y}${axes.x === undefined ? '' : ` x ${axes.x}`}`,
    width: {step: 84},
    height: {step: 40},
    data: {values: cells},
    encoding: {
      x: {field: 'x', type: 'ordinal', title: axes.x ?? '', sort: null, axis: {labelAngle: 0}},
      y: {field: 'y', type: 'ordinal', title: axes.y, sort: null},
    },
    layer: [{mark: {type: 'rect'}, encoding: {color}}, label],
  } as const;
  const side = {
    title: 'Baselines',
    width: 84,
    height: {step: 40},
    data: {values: baselines},
    encoding: {y: {field: 'baseline', type: 'nominal', title: null, sort: null, axis: {labelLimit: 400}}},
    layer: [{mark: {type: 'rect'}, encoding: {color}}, label],
  } as const;
  return {
    $schema: SCHEMA,
    title: 'Test accuracy (%) across the grid, with the baselines on the same colour scale',
    hconcat: baselines.length === 0 ? [heat] : [heat, side],
    resolve: {scale: {color: 'shared'}},
    // The readonly `as const` parts above do not fit Vega-Lite's mutable array types; the tests render the spec.
  } as unknown as TopLevelSpec;
}
