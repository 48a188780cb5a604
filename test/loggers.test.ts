/** Loggers: what a person sees on a terminal (progress bars) and in a log file (plain lines). */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {Writable} from 'node:stream';
import type {RunEvent} from '../runner/events.js';
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
});

test('progress numbers are shown at 4 significant digits, integers and strings as they are', () => {
  assert.equal(shortNumber(0.07142857142857142), '0.07143');
  assert.equal(shortNumber(1234.5678), '1235');
  assert.equal(shortNumber(120), '120');
  assert.equal(shortNumber('warmup'), 'warmup');
});

test('plain lines say how many instances have finished, and a long node prints its progress every 30 s', async () => {
  const {PlainLogger} = await import('../runner/loggers/plain-logger.js');
  const chunks: string[] = [];
  const out = new Writable({
    write(chunk: Buffer | string, _encoding, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  let now = 0;
  const logger = new PlainLogger(out, () => now);
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
  assert.deepEqual(chunks.join('').split('\n'), [
    'run r1: p (3 instances, 1 variants)',
    '[1/3] cached    c',
    'start     a on cpu 0',
    '  a: 46% iter=45 loss=0.07143',
    'FAILED    a: boom (retrying)',
    '[2/3] FAILED    a: boom',
    '[3/3] skipped   b (upstream a failed)',
    '',
  ]);
});
