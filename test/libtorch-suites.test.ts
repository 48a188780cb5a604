/**
 * The model, DSA, loss, training and MTT suites again, on the libtorch backend: each file runs in a child `node
 * --test` with DISTILLERY_TEST_BACKEND=libtorch (the suites read it through suiteBackend()). A failure reports the
 * child's failing tests.
 */
import {test} from 'node:test';
import assert from 'node:assert/strict';
import {execFile} from 'node:child_process';
import {fileURLToPath} from 'node:url';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const SUITES = ['models', 'dsa', 'losses', 'train', 'mtt'];

/** This process's environment minus the variable by which node:test marks its own children (a child that inherits
 * it refuses to run its files). */
function childEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {...process.env, DISTILLERY_TEST_BACKEND: 'libtorch'};
  delete env['NODE_TEST_CONTEXT'];
  return env;
}

for (const suite of SUITES) {
  test(`test/${suite}.test.ts on libtorch`, async () => {
    const {code, output} = await new Promise<{code: number; output: string}>((resolve) => {
      execFile(
        process.execPath,
        ['--import', 'tsx', '--test', '--test-reporter=tap', `test/${suite}.test.ts`],
        {cwd: REPO, env: childEnvironment(), timeout: 600_000, maxBuffer: 64 << 20},
        (error, stdout, stderr) => resolve({code: error === null ? 0 : typeof error.code === 'number' ? error.code : 1, output: stdout + stderr}),
      );
    });
    const summary = (name: string): number => Number(new RegExp(`^# ${name} (\\d+)`, 'm').exec(output)?.[1] ?? NaN);
    const failures = output.split('\n').filter((line) => /^\s*not ok /.test(line));
    assert.equal(code, 0, `test/${suite}.test.ts failed on libtorch:\n${failures.join('\n')}\n${output.slice(-3000)}`);
    assert.ok(summary('pass') > 0, `no test ran:\n${output.slice(-2000)}`);
    assert.equal(summary('skipped'), 0, 'a suite skipped tests on libtorch');
  });
}
