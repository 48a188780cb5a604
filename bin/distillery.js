#!/usr/bin/env node
// The installed command. Runs the compiled CLI (built by `npm install` through the `prepare` script); in a source
// checkout without a build it falls back to running the TypeScript sources through tsx.
import {existsSync} from 'node:fs';
import {fileURLToPath} from 'node:url';

const compiled = fileURLToPath(new URL('../dist/runner/cli-main.js', import.meta.url));
if (existsSync(compiled)) {
  await import(compiled);
} else {
  const {register} = await import('tsx/esm/api');
  register();
  await import('../runner/cli-main.ts');
}
