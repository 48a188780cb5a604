/**
 * The command examples in the docs run as printed: every `npx distillery ...` line of the shell blocks in README.md,
 * docs/cli.md and docs/pytorch.md is run through `sh -c`, in order, in a scratch project, and must exit 0 (or the
 * code its docs give, for the few listed in EXPECTED) without a stack trace. `npx distillery` is this checkout's CLI (a stand-in `npx` first on PATH), and the project's
 * `pipelines/quickstart.yaml` is the shipped one with its sizes made tiny (the same nodes, grid and instance ids),
 * so the examples that name instances (`'distill{T=1,alpha=0.3}'`) are checked against the real pipeline's plan.
 * Docs that drift from the code (an option renamed, an instance id that no longer exists) fail here.
 *
 * As in a shell, a line ending in `&` runs in the background while the next lines run (the cluster example's worker);
 * it must end by itself, and is checked like the others once every line has run. The docs' local Redis
 * (`redis://localhost:6379`) is Debian's redis-server, started here on a free loopback port.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {spawn} from 'node:child_process';
import {chmod, copyFile, mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {existsSync} from 'node:fs';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {fileURLToPath} from 'node:url';
import {parseDocument} from 'yaml';
import {startRedis} from './util/servers.js';
import type {RedisServer} from './util/servers.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));

/** The `npx distillery` lines of a Markdown file's ```sh blocks, comments and all, as printed. */
async function examples(file: string): Promise<string[]> {
  const lines: string[] = [];
  let inShell = false;
  for (const line of (await readFile(join(REPO, file), 'utf8')).split('\n')) {
    if (line.startsWith('```')) {
      inShell = line === '```sh';
      continue;
    }
    if (!inShell) continue;
    // The set-up line installs packages first (`apt-get ... && npm install && npx distillery run ...`): its last step.
    const at = line.indexOf('npx distillery ');
    if (at >= 0) lines.push(line.slice(at));
  }
  return lines;
}

/** The shipped quickstart at a tiny size: every node, port and grid value kept; sizes, epochs and iterations cut. */
async function tinyQuickstart(): Promise<string> {
  const doc = parseDocument(await readFile(join(REPO, 'pipelines', 'quickstart.yaml'), 'utf8'));
  const params: Record<string, number> = {
    ipc: 1, width: 4, depth: 2, iterations: 1, synSteps: 1, expertEpochs: 1, maxStartEpoch: 1, studentEpochs: 1,
    // The examples export expert[0] after epoch 2 and a student's second seed.
    expertTrainEpochs: 2, studentSeeds: 2,
  };
  for (const [name, value] of Object.entries(params)) {
    assert.ok(doc.hasIn(['params', name]), `the quickstart has params.${name}`);
    doc.setIn(['params', name], value);
  }
  doc.setIn(['nodes', 'data', 'with', 'trainLimit'], 100);
  doc.setIn(['nodes', 'data', 'with', 'testLimit'], 50);
  doc.setIn(['nodes', 'teacher', 'with', 'epochs'], 1);
  doc.setIn(['nodes', 'teacher', 'with', 'widthMultiplier'], 0.0625);
  return doc.toString();
}

/** The project config of the README's "Share with your team", with a folder in place of the S3 bucket. */
async function projectConfig(remote: string): Promise<string> {
  const readme = await readFile(join(REPO, 'README.md'), 'utf8');
  const block = /```yaml\n(remotes:[^]*?)```/.exec(readme)?.[1];
  assert.ok(block !== undefined, 'README shows a distillery.config.yaml');
  assert.match(block, /s3:\/\/ml-cache\/distillery/);
  return block.replace('s3://ml-cache/distillery', remote);
}

/**
 * Lines that end otherwise by design here, with the exit code their docs give and what they must say. Everything else
 * must exit 0.
 */
const EXPECTED: ReadonlyArray<{readonly line: RegExp; readonly code: number; readonly output: RegExp}> = [
  // docs/cluster.md: a worker that cannot reach Redis when it starts exits 2 with the reason (there is no queue-box).
  {line: /^npx distillery worker --redis redis:\/\/queue-box:6379 /, code: 2, output: /queue-box/},
  // docs/cli.md: the cluster example's run really went through the worker (its start lines name it and its GPU).
  {line: /^npx distillery run .*--executor bullmq/, code: 0, output: /^start +distill\{T=1,alpha=0\.5\} on \S+ gpu 0$/m},
];

/** The Redis the docs' cluster examples name: a server on this machine's default port. */
const DOCS_REDIS = 'redis://localhost:6379';

/** A line that ends in `&` (a comment may follow): its command without the `&`, else undefined. */
function backgroundCommand(line: string): string | undefined {
  return /^(.*[^&])&\s*(#.*)?$/.exec(line)?.[1];
}

/** The longest one example may take (the set-up run computes the whole tiny quickstart). */
const LINE_TIMEOUT_MS = 15 * 60_000;

function sh(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{code: number | null; stdout: string; stderr: string}> {
  return new Promise((resolve, reject) => {
    const child = spawn('sh', ['-c', line], {cwd, env, stdio: ['ignore', 'pipe', 'pipe'], timeout: LINE_TIMEOUT_MS});
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({code, stdout, stderr}));
  });
}

test('every npx distillery line of README.md, docs/cli.md and docs/pytorch.md runs as printed and exits as documented', async (t) => {
  const project = await mkdtemp(join(tmpdir(), 'distillery-docs-'));
  let redis: RedisServer | undefined;
  try {
    redis = await startRedis('docs-examples-redis');
    await mkdir(join(project, 'pipelines'));
    await mkdir(join(project, 'docs'));
    await writeFile(join(project, 'pipelines', 'quickstart.yaml'), await tinyQuickstart());
    // Only validated (paper) or read from an empty cache (fmnist): as shipped.
    for (const name of ['paper.yaml', 'fmnist.yaml']) await copyFile(join(REPO, 'pipelines', name), join(project, 'pipelines', name));
    // The team's shared folder exists (a remote folder that does not is reported as not mounted).
    await mkdir(join(project, 'team-cache'));
    await writeFile(join(project, 'distillery.config.yaml'), await projectConfig(join(project, 'team-cache')));
    const bin = join(project, 'bin');
    await mkdir(bin);
    await writeFile(
      join(bin, 'npx'),
      `#!/bin/sh\n[ "$1" = distillery ] || { echo "npx stand-in: only distillery" >&2; exit 127; }\nshift\n` +
        `exec ${JSON.stringify(process.execPath)} --import ${JSON.stringify(import.meta.resolve('tsx'))} ${JSON.stringify(join(REPO, 'runner', 'cli-main.ts'))} "$@"\n`,
    );
    await chmod(join(bin, 'npx'), 0o755);
    const env: NodeJS.ProcessEnv = {...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, DISTILLERY_CACHE: '', NO_COLOR: '1'};
    delete env['DISTILLERY_REMOTE'];

    const lines = [...(await examples('README.md')), ...(await examples('docs/cli.md')), ...(await examples('docs/pytorch.md'))];
    assert.ok(lines.length >= 30, `found ${lines.length} examples`);
    assert.match(lines[0] ?? '', /^npx distillery run pipelines\/quickstart\.yaml$/, 'the set-up run comes first: later examples read its results');
    assert.ok(lines.some((l) => l.includes(DOCS_REDIS)), `an example names ${DOCS_REDIS}`);
    const failures: string[] = [];
    const check = (line: string, result: {code: number | null; stdout: string; stderr: string}): void => {
      const output = result.stdout + result.stderr;
      const expected = EXPECTED.find((e) => e.line.test(line)) ?? {code: 0, output: /^/};
      if (result.code !== expected.code || !expected.output.test(output) || /\n\s+at .+:\d+:\d+\)?\n/.test(output)) {
        failures.push(`${line}\n  exit ${result.code} (expected ${expected.code}): ${output.trim().split('\n').slice(-6).join('\n  ')}`);
      }
    };
    const background: Array<{line: string; result: ReturnType<typeof sh>}> = [];
    for (const line of lines) {
      const command = line.replaceAll(DOCS_REDIS, redis.url);
      const behind = backgroundCommand(command);
      if (behind !== undefined) {
        const result = sh(behind, project, env);
        // Awaited after the last line; a failure to start is reported then, not as an unhandled rejection now.
        result.catch(() => undefined);
        background.push({line, result});
        t.diagnostic(`started in the background: ${line}`);
        continue;
      }
      const started = performance.now();
      const result = await sh(command, project, env);
      t.diagnostic(`${((performance.now() - started) / 1000).toFixed(1)} s  ${line}`);
      check(line, result);
    }
    for (const {line, result} of background) check(line, await result);
    assert.deepEqual(failures, []);
    // The cluster example's worker took its jobs and left by itself, as the docs say.
    const workerLog = await readFile(join(project, 'worker.log'), 'utf8');
    assert.match(workerLog, /^ran +distill\{T=1,alpha=0\.5\} /m);
    assert.match(workerLog, /^idle +no job for 1m; leaving\nstopping: .*\nstopped\n$/m);
    // What the examples say they write is there.
    for (const file of ['set.npz', 'student.safetensors', 'random.png', 'expert0-epoch2.safetensors', 'teacher.safetensors']) {
      assert.ok(existsSync(join(project, file)), file);
    }
    assert.deepEqual(JSON.parse(await readFile(join(project, 'docs', 'pipeline.schema.json'), 'utf8')),
      JSON.parse(await readFile(join(REPO, 'docs', 'pipeline.schema.json'), 'utf8')));
  } finally {
    await redis?.stop();
    await rm(project, {recursive: true, force: true});
  }
});
