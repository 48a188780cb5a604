/**
 * Which tfjs backend a worker will pick, found without loading tfjs.
 *
 * The runner puts the backend kind and the tfjs version into every node key (they change results), and a cached
 * no-op run must not pay for loading tfjs, so this only resolves package files.
 */
import {createRequire} from 'node:module';
import {readFileSync} from 'node:fs';

/** The backends in order of preference. */
export const BACKEND_KINDS = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendKind = (typeof BACKEND_KINDS)[number];

/** The npm package that provides each backend. */
export const BACKEND_PACKAGES: Readonly<Record<BackendKind, string>> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs-backend-cpu',
};

/** The outcome of a probe. */
export interface BackendProbe {
  readonly kind: BackendKind;
  readonly tfjsVersion: string;
}

const require = createRequire(import.meta.url);

function installed(pkg: string): boolean {
  try {
    require.resolve(`${pkg}/package.json`);
    return true;
  } catch {
    return false;
  }
}

/** Parses `DISTILLERY_BACKEND`; undefined when unset or empty. Throws a plain message for an unknown name. */
export function forcedBackend(env: NodeJS.ProcessEnv = process.env): BackendKind | undefined {
  const raw = env['DISTILLERY_BACKEND']?.trim();
  if (!raw) return undefined;
  const kind = (BACKEND_KINDS as readonly string[]).includes(raw) ? (raw as BackendKind) : undefined;
  if (kind === undefined) {
    throw new Error(`DISTILLERY_BACKEND=${raw} is not one of ${BACKEND_KINDS.join(', ')}`);
  }
  return kind;
}

/** The backend a worker would choose here: the forced one, else the first whose package is installed. */
export function probeBackend(env: NodeJS.ProcessEnv = process.env): BackendProbe {
  const kind = forcedBackend(env) ?? BACKEND_KINDS.find((k) => installed(BACKEND_PACKAGES[k])) ?? 'cpu';
  const pkg = JSON.parse(readFileSync(require.resolve('@tensorflow/tfjs-core/package.json'), 'utf8')) as {version: string};
  return {kind, tfjsVersion: pkg.version};
}
