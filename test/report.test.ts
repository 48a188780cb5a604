/**
 * The report: Vega-Lite charts rendered in Node to SVG and PNG, the run header a published page gets, and the HTML
 * page opened in a real headless Chromium (Debian's `chromium`), screenshotted, with every chart checked to have
 * drawn (SVG elements present, axis titles and legends in the page, coloured pixels where each chart is).
 */
import {after, before, describe, it} from 'node:test';
import assert from 'node:assert/strict';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {PNG} from 'pngjs';
import type {JsonObject, JsonValue, NodeContext, UpstreamInfo} from '../nodes/api.js';
import {writeSyntheticSetArtifact} from '../nodes/artifacts.js';
import {accuracyBarsChart, accuracyHeatmap, lossCurvesChart} from '../nodes/report-charts.js';
import {chartSvg, svgToPng, uniqueIds} from '../nodes/report-render.js';
import {RUN_HEADER_MARKER} from '../nodes/report.js';
import {buildRows, rowCells, tableColumns} from '../nodes/report-table.js';
import {stampReport} from '../runner/report-header.js';
import {main} from '../runner/cli.js';
import {Writable} from 'node:stream';

/** Debian's Chromium (`apt-get install chromium`; .ci/run installs it). */
const CHROMIUM = '/usr/bin/chromium';

const CLASSES = ['T-shirt', 'Trouser', 'Pullover', 'Dress', 'Coat', 'Sandal', 'Shirt', 'Sneaker', 'Bag', 'Ankle boot'];

function evalOutput(accuracy: number, std: number, trainedOn: JsonObject, alpha = 0): JsonValue {
  return {accuracy, accuracy_std: std, accuracies: [accuracy - std, accuracy + std], provenance: {trainedOn, alpha, T: 4}};
}

/**
 * A grid of 2 x 2 distilled variants plus plain MTT, two random draws (instances of a node mapped over a repeated
 * `random`) and a teacher, as a quickstart report sees them.
 */
function reportInputs(): {evals: JsonValue[]; upstream: UpstreamInfo[]} {
  const evals: JsonValue[] = [];
  const upstream: UpstreamInfo[] = [];
  for (const [alpha, T, acc] of [[0.3, 1, 68.6], [0.3, 4, 67.1], [0.7, 1, 69.0], [0.7, 4, 63.0]] as const) {
    evals.push(evalOutput(acc, 0.6, {source: 'distilled', ipc: 5, alpha, T}));
    upstream.push({id: `eval{T=${T},alpha=${alpha}}`, type: 'evaluate', grid: {T, alpha}});
  }
  evals.push(evalOutput(70.2, 0.2, {source: 'distilled', ipc: 5, alpha: 0}));
  upstream.push({id: 'evalPlain', type: 'evaluate', grid: {}});
  evals.push(evalOutput(63.8, 0.4, {source: 'random', ipc: 5}), evalOutput(65.1, 0.5, {source: 'random', ipc: 5}));
  upstream.push({id: 'evalRandom[0]', type: 'evaluate', grid: {}}, {id: 'evalRandom[1]', type: 'evaluate', grid: {}});
  evals.push({accuracy: 73.2, accuracy_std: 0, accuracies: [73.2], provenance: {source: 'teacher', arch: 'resnet18'}});
  upstream.push({id: 'evalTeacher', type: 'evaluate', grid: {}});
  return {evals, upstream};
}

function curves(): {values: JsonValue[]; upstream: UpstreamInfo[]} {
  const ids = ['distill{T=1,alpha=0.3}', 'distill{T=4,alpha=0.7}', 'plain'];
  return {
    values: ids.map((_, k) => ({
      loss: Array.from({length: 40}, (_, i) => (1 + k) * Math.exp(-i / 12) + 0.05),
      syn_lr: Array.from({length: 40}, (_, i) => 0.01 + 0.0001 * i * (k + 1)),
    })),
    upstream: ids.map((id) => ({id, type: 'distillJoint', grid: {}})),
  };
}

/** Runs the real `report` node in-process on the inputs above; returns the HTML and Markdown paths. */
async function makeReport(dir: string): Promise<{html: string; md: string}> {
  const setFile = join(dir, 'set.safetensors');
  const n = 30;
  const x = new Float32Array(n * 28 * 28);
  for (let i = 0; i < x.length; i++) x[i] = Math.sin(i * 0.37) * 1.5;
  const y = Int32Array.from({length: n}, (_, i) => Math.floor(i / 3));
  await writeSyntheticSetArtifact(setFile, {
    set: {x, y, n, height: 28, width: 28, channels: 1, classes: 10, classNames: CLASSES, mean: [0.29], std: [0.35]},
    lr: 0.01,
    provenance: {source: 'distilled', ipc: 3},
  });
  const {evals, upstream} = reportInputs();
  const c = curves();
  const stage = join(dir, 'stage');
  await mkdir(stage, {recursive: true});
  const files: Record<string, string> = {};
  const ctx: NodeContext<{title: string}> = {
    id: 'report',
    type: 'report',
    params: {title: 'Browser check'},
    inputs: {evals, curves: c.values, sets: [setFile]},
    upstream: {evals: upstream, curves: c.upstream, sets: [{id: 'distill{T=1,alpha=0.3}', type: 'distillJoint', grid: {}}]},
    seed: 1,
    device: {kind: 'cpu', id: '0'},
    signal: new AbortController().signal,
    progress: () => undefined,
    log: () => undefined,
    metric: () => undefined,
    write: () => undefined,
    file: (port, ext = '') => (files[port] = join(stage, `${port}${ext}`)),
  };
  const {run} = await import('../nodes/report-run.js');
  await run(ctx);
  const header = {
    pipeline: 'quickstart', file: 'pipelines/quickstart.yaml', runId: '2026-12-01T10-00-00-000Z-abcd', date: new Date('2026-12-01T10:00:00Z'),
    overrides: ['grid.alpha=[0.3,0.7]'], params: {ipc: 5, width: 16}, grid: {alpha: [0.3, 0.7], T: [1, 4]},
  };
  const html = files['index'] ?? '';
  await writeFile(html, stampReport(await readFile(html, 'utf8'), 'html', header));
  return {html, md: files['report'] ?? ''};
}

describe('charts', () => {
  it('a chart has titled axes with tick labels and a legend, as SVG text; the PNG is drawn', async () => {
    const c = curves();
    const svg = await chartSvg(lossCurvesChart(c.values.map((v, i) => ({id: c.upstream[i]?.id ?? '', loss: (v as {loss: number[]}).loss, synLr: []}))));
    for (const text of ['outer iteration', 'matching loss (log scale)', 'distillation', 'distill{T=1,alpha=0.3}', 'plain', '>10<', '>20<']) {
      assert.ok(svg.includes(text), `the SVG has ${text}`);
    }
    assert.match(svg, /class="mark-line role-mark[^"]*"/);
    const png = PNG.sync.read(await svgToPng(svg));
    const dark = countPixels(png, {x: 0, y: 0, width: png.width, height: png.height}, (r, g, b) => r + g + b < 200);
    assert.ok(dark > 500, `text and axes are drawn in the PNG (${dark} dark pixels)`);
  });

  it('the heatmap spans alpha x T and puts the baselines on the same colour scale; bars have error bars', async () => {
    const {evals, upstream} = reportInputs();
    const rows = buildRows(evals as never, upstream);
    const heat = await chartSvg(accuracyHeatmap(rows) ?? assert.fail('a heatmap'));
    for (const text of ['alpha', '>T<', 'Baselines', 'evalPlain (plain MTT)', 'evalRandom[*] (random)', 'evalTeacher (teacher)', '68.6 ± 0.6', 'accuracy (%)']) {
      assert.ok(heat.includes(text), `the heatmap has ${text}`);
    }
    const bars = await chartSvg(accuracyBarsChart(rows));
    assert.ok(bars.includes('test accuracy (%)') && bars.includes('trained on') && bars.includes('70.20 ± 0.20'));
    assert.equal((bars.match(/mark-rule role-mark/g) ?? []).length, 1, 'one group of error-bar rules');
    // The two draws are one row: mean and std over the draws, n with each draw's mean.
    const random = rows.find((r) => r.id === 'evalRandom[*]') ?? assert.fail('a folded random row');
    const {gridKeys, header} = tableColumns(rows);
    const cells = Object.fromEntries(header.map((h, i) => [h, rowCells(random, gridKeys)[i]]));
    assert.equal(cells['accuracy % (mean +- std)'], '64.45 +- 0.65');
    assert.equal(cells['n'], '2 (63.80, 65.10)');
    assert.ok(bars.includes('evalRandom[*]') && bars.includes('64.45 ± 0.65'), 'the bars show the folded row');
  });

  it('ids of one SVG are renamed per figure, in order, so that several can share a page', () => {
    assert.equal(uniqueIds('<a id="gradient_7"/><b id="clip3" fill="url(#gradient_7)"/>', 'f-'), '<a id="f-0"/><b id="f-1" fill="url(#f-0)"/>');
    assert.equal(
      uniqueIds('<clipPath id="clip1"/><g clip-path="url(#clip1)"/><use href="#clip1"/>', 'fig2-'),
      '<clipPath id="fig2-0"/><g clip-path="url(#fig2-0)"/><use href="#fig2-0"/>',
    );
  });

  it('the same report twice is the same bytes (a reused worker gives the same page)', async () => {
    const dirs = await Promise.all([mkdtemp(join(tmpdir(), 'distillery-rep-')), mkdtemp(join(tmpdir(), 'distillery-rep-'))]);
    try {
      const [a, b] = [await makeReport(dirs[0] ?? ''), await makeReport(dirs[1] ?? '')];
      for (const [x, y] of [[a.html, b.html], [a.md, b.md]] as const) {
        const [p, q] = [await readFile(x, 'utf8'), await readFile(y, 'utf8')];
        let i = 0;
        while (i < p.length && p[i] === q[i]) i++;
        assert.ok(p === q, `first difference at ${i}: ${JSON.stringify(p.slice(i - 60, i + 60))} vs ${JSON.stringify(q.slice(i - 60, i + 60))}`);
      }
    } finally {
      await Promise.all(dirs.map((d) => rm(d, {recursive: true, force: true})));
    }
  });

  it('a published page gets the run header where the report left its marker', () => {
    const header = {pipeline: 'q', file: 'q.yaml', runId: 'r1', date: new Date('2026-01-02T03:04:05Z'), overrides: ['grid.T=[1]'], params: {ipc: 5}, grid: {T: [1]}};
    const md = stampReport(`# t\n\n${RUN_HEADER_MARKER}\n`, 'md', header);
    assert.equal(
      md,
      '# t\n\n| run | |\n| --- | --- |\n| pipeline | q (q.yaml) |\n| run | r1 |\n| date | 2026-01-02 03:04:05 UTC |\n' +
        '| overrides | --set grid.T=[1] |\n| params | ipc = 5 |\n| grid | T in [1] |\n',
    );
    assert.equal(stampReport('no marker', 'html', header), 'no marker');
  });
});

/** Pixels in `box` for which `test(r, g, b)` holds. */
function countPixels(png: PNG, box: {x: number; y: number; width: number; height: number}, test: (r: number, g: number, b: number) => boolean): number {
  let count = 0;
  for (let y = Math.max(0, Math.floor(box.y)); y < Math.min(png.height, box.y + box.height); y++) {
    for (let x = Math.max(0, Math.floor(box.x)); x < Math.min(png.width, box.x + box.width); x++) {
      const o = (y * png.width + x) * 4;
      if (test(png.data[o] ?? 255, png.data[o + 1] ?? 255, png.data[o + 2] ?? 255)) count++;
    }
  }
  return count;
}

describe('the HTML report in a headless browser', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'distillery-browser-'));
  });
  after(async () => rm(dir, {recursive: true, force: true}));

  it('Chromium shows every chart: SVG marks, axis titles and legends present, coloured pixels in each chart', async () => {
    assert.ok(existsSync(CHROMIUM), `this test needs Debian's chromium at ${CHROMIUM}: apt-get install chromium`);
    const {html} = await makeReport(dir);
    const {chromium} = await import('playwright-core');
    const profile = join(dir, 'profile');
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: {width: 1280, height: 900},
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await context.newPage();
      await page.goto(`file://${html}`);
      const charts = await page.$$eval('figure.chart', (figures) =>
        figures.map((f) => {
          const svg = f.querySelector('svg');
          const box = svg?.getBoundingClientRect();
          // Page coordinates (the screenshot is of the whole page); the page has not scrolled, but say so.
          const scroll = globalThis as unknown as {scrollX: number; scrollY: number};
          return {
            file: f.getAttribute('data-file') ?? '',
            box: box === undefined ? undefined : {x: box.x + scroll.scrollX, y: box.y + scroll.scrollY, width: box.width, height: box.height},
            marks: svg?.querySelectorAll('path, rect, line, image').length ?? 0,
            texts: [...(svg?.querySelectorAll('text') ?? [])].map((t) => t.textContent ?? ''),
          };
        }),
      );
      const header = await page.$$eval('table.run th', (cells) => cells.map((c) => c.textContent));
      const shot = join(dir, 'report.png');
      await page.screenshot({path: shot, fullPage: true});
      const png = PNG.sync.read(await readFile(shot));

      assert.deepEqual(header, ['pipeline', 'run', 'date', 'overrides', 'params', 'grid']);
      assert.deepEqual(charts.map((c) => c.file), ['report-accuracy.png', 'report-grid.png', 'report-loss.png', 'report-lr.png', 'report-set-0-distill_T-1_alpha-0.3.png']);
      const expectTexts: Record<string, string[]> = {
        'report-accuracy.png': ['test accuracy (%)', 'trained on', 'evalTeacher', '70.20 ± 0.20'],
        'report-grid.png': ['alpha', 'T', 'Baselines', 'accuracy (%)', '69.0 ± 0.6'],
        'report-loss.png': ['outer iteration', 'matching loss (log scale)', 'distillation', 'plain'],
        'report-lr.png': ['syn_lr', 'outer iteration'],
        'report-set-0-distill_T-1_alpha-0.3.png': CLASSES,
      };
      for (const chart of charts) {
        for (const text of expectTexts[chart.file] ?? []) assert.ok(chart.texts.includes(text), `${chart.file} shows "${text}": ${chart.texts.join('|')}`);
        // A chart draws many marks (bars, cells, lines, axis ticks); an image grid is its picture on a background.
        const minMarks = chart.file.startsWith('report-set') ? 2 : 10;
        assert.ok(chart.marks >= minMarks, `${chart.file} has SVG marks (${chart.marks})`);
        const box = chart.box ?? assert.fail(`${chart.file} has an SVG`);
        assert.ok(box.width > 150 && box.height > 100, `${chart.file} has a size on the page: ${JSON.stringify(box)}`);
        assert.ok(box.y + box.height <= png.height, `${chart.file} is inside the screenshot`);
        const area = box.width * box.height;
        const inked = countPixels(png, box, (r, g, b) => r < 235 || g < 235 || b < 235);
        const coloured = countPixels(png, box, (r, g, b) => Math.max(r, g, b) - Math.min(r, g, b) > 40);
        assert.ok(inked / area > 0.03, `${chart.file}: ${((100 * inked) / area).toFixed(1)} % of its pixels are drawn`);
        if (!chart.file.startsWith('report-set')) assert.ok(coloured > 300, `${chart.file}: ${coloured} coloured pixels (bars, cells, lines)`);
      }
      // Between the charts the page is white where nothing is drawn: the check above is not satisfied by anything.
      const last = charts.at(-1)?.box ?? assert.fail('charts');
      const below = {x: 0, y: last.y + last.height + 80, width: png.width, height: Math.max(0, png.height - (last.y + last.height + 80))};
      assert.equal(countPixels(png, below, (r, g, b) => Math.max(r, g, b) - Math.min(r, g, b) > 40), 0, 'nothing coloured below the last figure');
    } finally {
      await context.close();
    }
  });
});


describe('publishing', () => {
  it('run copies a report page out with the run header where it asked for it; the cached page keeps the marker', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'distillery-publish-'));
    try {
      await writeFile(
        join(dir, 'page.mjs'),
        `import {writeFileSync} from 'node:fs';
export default [{type: 'page', params: {type: 'object', properties: {n: {type: 'number'}}}, outputs: {page: {kind: 'Report'}},
  run(ctx) { writeFileSync(ctx.file('page', '.html'), '<h1>' + ctx.params.n + '</h1>\\n${RUN_HEADER_MARKER}\\n'); }}];
`,
      );
      await writeFile(join(dir, 'p.yaml'), 'name: pub\nimports: [./page.mjs]\nparams: {size: 3}\nnodes:\n  rep: {type: page, with: {n: "${params.size}"}}\n');
      const sink = new (class extends Writable {
        override _write(_c: Buffer, _e: BufferEncoding, done: () => void): void {
          done();
        }
      })();
      const code = await main(['run', 'p.yaml', '--set', 'params.size=4'], {stdout: sink, stderr: sink, cwd: dir, env: {DISTILLERY_BACKEND: 'cpu'}});
      assert.equal(code, 0);
      const published = await readFile(join(dir, '.distillery', 'reports', 'pub', 'page.html'), 'utf8');
      assert.match(published, /^<h1>4<\/h1>\n<table class="run">\n<tr><th>pipeline<\/th><td>pub \(p\.yaml\)<\/td><\/tr>\n<tr><th>run<\/th><td>\d{4}-[\dT-]+Z-[0-9a-f]{4}<\/td><\/tr>/);
      assert.match(published, /<tr><th>overrides<\/th><td>--set params\.size=4<\/td><\/tr>\n<tr><th>params<\/th><td>size = 4<\/td><\/tr>/);
      const {LocalStore} = await import('../cache/local-store.js');
      const store = await LocalStore.open(join(dir, '.distillery', 'cache'));
      const [entry] = await store.list();
      const hit = await store.get((entry?.key ?? '') as never, {touch: false});
      assert.equal(hit.status, 'hit');
      if (hit.status === 'hit') assert.equal(await readFile(join(hit.entry.dir, 'page.html'), 'utf8'), `<h1>4</h1>\n${RUN_HEADER_MARKER}\n`);
    } finally {
      await rm(dir, {recursive: true, force: true});
    }
  });
});
