/** Loggers: what a person sees on a terminal (progress bars) and in a log file (plain lines). */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {Writable} from 'node:stream';
import type {RunEvent} from '../runner/events.js';
import type {Plan} from '../runner/plan.js';
import {ProgressLogger, shortNumber} from '../runner/loggers/progress-logger.js';

/** A fake terminal that keeps everything written to it. */
function terminal(): Writable & {isTTY: boolean; columns: number; text: () => string} {
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  }) as Writable & {isTTY: boolean; columns: number; text: () => string};
  out.isTTY = true;
  out.columns = 100;
  out.text = () => chunks.join('');
  return out;
}

const EVENTS: RunEvent[] = [
  {type: 'run-started', runId: 'r1', plan: {pipeline: 'p', file: 'p.yaml', nodes: 1, variants: 1}},
  {type: 'node-started', id: 'a', key: 'k', device: {kind: 'cpu', id: '0'}, attempt: 1},
  {type: 'node-progress', id: 'a', fraction: 0.5, info: {iter: 5, loss: 0.07142857142857142}},
  {type: 'node-metric', id: 'a', name: 'acc', value: 1},
  {type: 'node-succeeded', id: 'a', key: 'k', seconds: 1.5},
  {type: 'run-finished', status: 'ok', counts: {ran: 1, cached: 0, failed: 0, skipped: 0}, seconds: 1.5},
];

test('the progress logger flushes the last lines on close and erases what a bar left on a reused row', async () => {
  const out = terminal();
  const logger = new ProgressLogger(out);
  for (const event of EVENTS) logger.log(event);
  logger.close();
  const text = out.text();
  assert.match(text, /ok: 1 ran, 0 cached, 0 failed, 0 skipped/, 'the run-finished line is not lost');
  assert.match(text, /a: acc = 1\x1b\[K\n/, 'logged lines clear the rest of their row');
  assert.match(text, /1\/1 done \| 0 running, 0 queued\x1b/, 'a bar for the whole run');
});

test('progress numbers are shown at 4 significant digits, integers and strings as they are', () => {
  assert.equal(shortNumber(0.07142857142857142), '0.07143');
  assert.equal(shortNumber(1234.5678), '1235');
  assert.equal(shortNumber(120), '120');
  assert.equal(shortNumber('warmup'), 'warmup');
});

test('plain lines say how many instances have finished; a long run prints its status and each long node its progress every 30 s', async () => {
  const {PlainLogger} = await import('../runner/loggers/plain-logger.js');
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  let now = 0;
  const logger = new PlainLogger(out, {now: () => now});
  const events: RunEvent[] = [
    {type: 'run-started', runId: 'r1', plan: {pipeline: 'p', file: 'p.yaml', nodes: 3, variants: 1}},
    {type: 'node-cached', id: 'c', key: 'k0'},
    {type: 'node-started', id: 'a', key: 'k', device: {kind: 'cpu', id: '0'}, attempt: 1},
    {type: 'node-progress', id: 'a', fraction: 0.1, info: {iter: 1}},
  ];
  for (const e of events) logger.log(e);
  now = 31_000;
  logger.log({type: 'node-progress', id: 'a', fraction: 0.456, info: {iter: 45, loss: 0.07142857142857142}});
  now = 32_000;
  logger.log({type: 'node-progress', id: 'a', fraction: 0.5});
  logger.log({type: 'node-failed', id: 'a', key: 'k', error: 'boom', attempt: 1, willRetry: true});
  logger.log({type: 'node-failed', id: 'a', key: 'k', error: 'boom', attempt: 2, willRetry: false});
  logger.log({type: 'node-skipped', id: 'b', reason: 'upstream a failed'});
  assert.equal(chunks.join(''), '', 'lines of one tick are written together, at the end of the tick or on close');
  logger.close();
  assert.equal(chunks.length, 1);
  assert.deepEqual(chunks.join('').split('\n'), [
    'run r1: p (3 instances, 1 variants)',
    '[1/3] cached    c',
    'start     a on cpu 0',
    '[1/3] 1 running, 1 queued',
    '  a: 46% iter=45 loss=0.07143',
    'FAILED    a: boom (retrying)',
    '[2/3] FAILED    a: boom',
    '[3/3] skipped   b (upstream a failed)',
    '',
  ]);
});

test('the run status: running and queued counts, and an ETA from expected durations spread over what runs', async () => {
  const {RunTally, formatStatus} = await import('../runner/loggers/run-tally.js');
  const expected = new Map<string, number | undefined>([['a', 100], ['b', 100], ['c', 40], ['d', 60]]);
  const learnt: Array<[string, number]> = [];
  const tally = new RunTally({ids: () => expected.keys(), expected: (id) => expected.get(id), learn: (id, s) => learnt.push([id, s])});
  const device = {kind: 'cpu', id: '0'} as const;
  tally.observe({type: 'run-started', runId: 'r', plan: {pipeline: 'p', file: 'p.yaml', nodes: 4, variants: 1}}, 0);
  assert.deepEqual(tally.status(0), {finished: 0, total: 4, running: 0, queued: 4}, 'no ETA while nothing runs');
  tally.observe({type: 'node-started', id: 'a', key: 'ka', device, attempt: 1}, 0);
  tally.observe({type: 'node-started', id: 'b', key: 'kb', device, attempt: 1}, 0);
  // 30 s in: a and b have 70 s left each, c and d 100 s together; 240 s of work over 2 running instances.
  assert.deepEqual(tally.status(30_000), {finished: 0, total: 4, running: 2, queued: 2, etaSeconds: 120});
  assert.equal(formatStatus(tally.status(30_000)), '2 running, 2 queued, ETA 2m');
  assert.equal(tally.observe({type: 'node-succeeded', id: 'a', key: 'ka', seconds: 90}, 90_000), '[1/4] ');
  assert.deepEqual(learnt, [['a', 90]], 'what ran teaches the estimates');
  tally.observe({type: 'node-started', id: 'c', key: 'kc', device, attempt: 1}, 90_000);
  // b has 10 s left, c 40 s, d 60 s: 110 s over 2.
  assert.deepEqual(tally.status(90_000), {finished: 1, total: 4, running: 2, queued: 1, etaSeconds: 55});
  // An instance running past its estimate counts as about to finish; an unknown one leaves the ETA out.
  assert.equal(tally.status(200_000).etaSeconds, 30);
  expected.set('d', undefined);
  assert.equal(tally.status(201_000).etaSeconds, undefined);
  // A retry keeps the instance running; a failure for good finishes it.
  tally.observe({type: 'node-failed', id: 'c', key: 'kc', error: 'x', attempt: 1, willRetry: true}, 201_000);
  assert.equal(tally.status(201_000).running, 2);
  assert.equal(tally.observe({type: 'node-failed', id: 'c', key: 'kc', error: 'x', attempt: 2, willRetry: false}, 202_000), '[2/4] ');
  assert.deepEqual(tally.status(202_000), {finished: 2, total: 4, running: 1, queued: 1});
});

test('duration estimates: the same key\'s recorded duration, else the median of its type, learning from this run', async () => {
  const {DurationEstimates} = await import('../runner/duration-estimates.js');
  const node = (id: string, type: string, key: string) => [id, {id, type, key}] as const;
  const plan = {order: ['x1', 'x2', 'y'], nodes: new Map([node('x1', 'tx', 'k1'), node('x2', 'tx', 'k2'), node('y', 'ty', 'k3')])};
  const estimates = new DurationEstimates(plan as unknown as Plan);
  assert.equal(estimates.expected('x1'), undefined, 'nothing is known before the records are read');
  estimates.learn('x2', 8);
  let asked: string[] = [];
  await estimates.load(async (types) => {
    asked = [...types].sort();
    return {byKey: new Map([['k1', 30]]), byType: new Map([['tx', [2, 4, 100]]])};
  });
  assert.deepEqual(asked, ['tx', 'ty']);
  assert.equal(estimates.expected('x1'), 30, 'its own key ran before');
  assert.equal(estimates.expected('x2'), 6, 'the median of 8 (this run), 2, 4 and 100');
  assert.equal(estimates.expected('y'), undefined);
  assert.deepEqual([...estimates.ids()], ['x1', 'x2', 'y']);
});

test('recorded durations come from the computations in recent run records', async () => {
  const {mkdtemp, mkdir, writeFile, rm} = await import('node:fs/promises');
  const {tmpdir} = await import('node:os');
  const {join} = await import('node:path');
  const {recordedDurations} = await import('../runner/run-history.js');
  const dir = await mkdtemp(join(tmpdir(), 'distillery-durations-'));
  try {
    const record = async (runId: string, nodes: object[]) => {
      await mkdir(join(dir, '.distillery', 'runs', runId), {recursive: true});
      await writeFile(join(dir, '.distillery', 'runs', runId, 'summary.json'), JSON.stringify({runId, nodes}));
    };
    await record('2026-01-01T00-00-00-000Z-aaaa', [{key: 'k1', type: 'tx', status: 'ran', seconds: 10}, {key: 'k2', type: 'ty', status: 'ran', seconds: 3}]);
    await record('2026-01-02T00-00-00-000Z-bbbb', [{key: 'k1', type: 'tx', status: 'ran', seconds: 12}, {key: 'k3', type: 'tx', status: 'cached', seconds: 0}]);
    await mkdir(join(dir, '.distillery', 'runs', '2026-01-03T00-00-00-000Z-cccc'));
    const durations = await recordedDurations(dir, new Set(['tx']));
    assert.deepEqual(durations.byKey, new Map([['k1', 12], ['k2', 3]]), 'the newest computation of each key; a cached one is no duration');
    assert.deepEqual(durations.byType, new Map([['tx', [12, 10]]]), 'only the asked types, newest first');
  } finally {
    await rm(dir, {recursive: true, force: true});
  }
});

test('metrics in run output are rounded to 6 significant digits; the event keeps the exact value', async () => {
  const {formatEvent} = await import('../runner/loggers/format-event.js');
  const metric = (value: number) => formatEvent({type: 'node-metric', id: 'a', name: 'acc', value});
  assert.equal(metric(2.6999999999999997), '  a: acc = 2.7');
  assert.equal(metric(0.1 + 0.2), '  a: acc = 0.3');
  assert.equal(metric(70.23456789), '  a: acc = 70.2346');
  assert.equal(metric(1234567), '  a: acc = 1234567');
});
