/**
 * The project config: `distillery.config.yaml`, committed beside the pipelines, found in the working directory or the
 * nearest folder above it (up to the repository root). Today it names the team's remote caches:
 *
 *   remotes:
 *     team: {url: s3://ml-cache/distillery, push: true}
 *     nas: {url: /mnt/shared/distillery}
 *   default: team
 *
 * and, for a cluster of workers (docs/cluster.md), the executor `run` uses and where its queue is:
 *
 *   executor: bullmq
 *   cluster: {redis: redis://queue-box:6379, queue: paper}
 *
 * It is validated like a pipeline: every problem is a located diagnostic. It never holds credentials: a URL with a
 * user, password or query string is refused (and its text masked in the message).
 */
import {existsSync} from 'node:fs';
import {readFile} from 'node:fs/promises';
import path from 'node:path';
import type {ValidateFunction} from 'ajv';
import type {TransferPolicy} from '../cache/remote-backend.js';
import {DEFAULT_TRANSFER_POLICY} from '../cache/remote-backend.js';
import type {RemoteSpec} from '../cache/remote-url.js';
import {parseRemoteUrl} from '../cache/remote-url.js';
import type {S3Settings} from '../cache/s3-backend.js';
import {parseRedisUrl, REDIS_PASSWORD_VARIABLE} from './cluster/redis-address.js';
import {DEFAULT_QUEUE, queueNameProblem} from './cluster/cluster-protocol.js';
import type {Diagnostic, DiagnosticLocation} from './diagnostic.js';
import {errorAt} from './diagnostic.js';
import {didYouMeanHint} from './did-you-mean.js';
import type {ExecutorKind} from './instance-executor.js';
import {EXECUTOR_KINDS} from './instance-executor.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {SourceText} from './source-text.js';

/** The config file's name. */
export const CONFIG_FILE = 'distillery.config.yaml';

/** One configured remote. */
export interface RemoteConfig {
  readonly name: string;
  readonly spec: RemoteSpec;
  /** `run` uploads every commit (write-through) without `--push`. */
  readonly push: boolean;
  /** `run` fetches local misses from it (read-through); default true. */
  readonly read: boolean;
  readonly policy: TransferPolicy;
  readonly s3: S3Settings;
}

/** The loaded config (empty when there is no file). */
export interface ProjectConfig {
  /** The file it came from, if any. */
  readonly file?: string;
  readonly remotes: ReadonlyMap<string, RemoteConfig>;
  /** The remote used when neither `--remote` nor DISTILLERY_REMOTE names one. */
  readonly defaultRemote?: string;
  /** The executor `run` uses without `--executor`. */
  readonly executor?: ExecutorKind;
  /** The cluster's queue, for `run --executor bullmq` and `worker` without `--redis` / `--queue`. */
  readonly cluster?: ClusterConfig;
}

/** The `cluster:` section. */
export interface ClusterConfig {
  /** The Redis URL as written (without a password: that comes from DISTILLERY_REDIS_PASSWORD). */
  readonly redis?: string;
  readonly queue: string;
}

const NAME = '^[A-Za-z][A-Za-z0-9_-]*$';

const CONFIG_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    remotes: {
      type: 'object',
      propertyNames: {pattern: NAME},
      additionalProperties: {
        type: 'object',
        additionalProperties: false,
        required: ['url'],
        properties: {
          url: {type: 'string', minLength: 1},
          push: {type: 'boolean'},
          read: {type: 'boolean'},
          timeout: {type: 'number', exclusiveMinimum: 0, maximum: 3600},
          retries: {type: 'integer', minimum: 0, maximum: 10},
          region: {type: 'string', minLength: 1},
          endpoint: {type: 'string', minLength: 1},
          pathStyle: {type: 'boolean'},
        },
      },
    },
    default: {type: 'string'},
    executor: {enum: EXECUTOR_KINDS},
    cluster: {
      type: 'object',
      additionalProperties: false,
      properties: {
        redis: {type: 'string', minLength: 1},
        queue: {type: 'string', minLength: 1},
      },
    },
  },
} as const;

interface RawRemote {
  url: string;
  push?: boolean;
  read?: boolean;
  timeout?: number;
  retries?: number;
  region?: string;
  endpoint?: string;
  pathStyle?: boolean;
}

interface RawConfig {
  remotes?: Record<string, RawRemote>;
  default?: string;
  executor?: ExecutorKind;
  cluster?: {redis?: string; queue?: string};
}

let compiled: ValidateFunction | undefined;

/** The config file that applies in `cwd`: there, or in the nearest parent, stopping at a repository root. */
export function findConfigFile(cwd: string): string | undefined {
  let dir = path.resolve(cwd);
  for (;;) {
    const candidate = path.join(dir, CONFIG_FILE);
    if (existsSync(candidate)) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir || existsSync(path.join(dir, '.git'))) return undefined;
    dir = parent;
  }
}

/** A location whose line text has any `user:password@` masked, for messages about URLs. */
function masked(location: DiagnosticLocation): DiagnosticLocation {
  return location.lineText === undefined ? location : {...location, lineText: location.lineText.replace(/([a-z][a-z0-9+.-]*:\/\/)[^/@\s]*@/gi, '$1***@')};
}

/** Reads the project config that applies in `cwd` (an empty config when there is none). */
export async function loadProjectConfig(cwd: string): Promise<Result<ProjectConfig, readonly Diagnostic[]>> {
  const file = findConfigFile(cwd);
  if (file === undefined) return ok({remotes: new Map()});
  const relativeName = path.relative(cwd, file);
  const display = relativeName === '' || relativeName.startsWith('..') ? file : relativeName;
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    return fail([errorAt('file-unreadable', {file: display, line: 1, col: 1}, `cannot read the config: ${(error as NodeJS.ErrnoException).code ?? String(error)}`)]);
  }
  // The YAML parser and the validator load only when there is a config to read (most runs have none).
  const [{PipelineLocator, parsePipelineText, pipelineData}, {dottedPath, schemaDiagnostics}, {Ajv}] = await Promise.all([
    import('./pipeline-document.js'),
    import('./schema-errors.js'),
    import('ajv'),
  ]);
  const source = new SourceText(display, text);
  const parsed = parsePipelineText(source);
  if (!parsed.ok) return fail(parsed.error.map((d) => ({...d, location: masked(d.location)})));
  const locator = new PipelineLocator(source, parsed.value);
  const data = pipelineData(parsed.value, source);
  if (!data.ok) return fail([data.error]);
  const value = data.value ?? {};
  compiled ??= new Ajv({allErrors: true, verbose: true, strict: true}).compile(CONFIG_SCHEMA);
  if (!compiled(value)) {
    const diagnostics = schemaDiagnostics(compiled.errors ?? [], value, {
      locator,
      basePath: [],
      member: (name) => `key "${name}"`,
      describe: (p) => (p.length === 0 ? 'the config' : dottedPath(p)),
      reasonFor: () => 'invalid-value',
    });
    return fail(diagnostics.map((d) => ({...d, location: masked(d.location)})));
  }
  const raw = value as RawConfig;
  const diagnostics: Diagnostic[] = [];
  const remotes = new Map<string, RemoteConfig>();
  for (const [name, remote] of Object.entries(raw.remotes ?? {})) {
    const spec = parseRemoteUrl(remote.url, path.dirname(file));
    if (!spec.ok) {
      const location = masked(locator.value(['remotes', name, 'url']));
      diagnostics.push(errorAt('bad-remote', location, `remote "${name}": ${spec.error.message}`, spec.error.hint));
      continue;
    }
    if (spec.value.kind !== 's3' && (remote.region !== undefined || remote.endpoint !== undefined || remote.pathStyle !== undefined)) {
      diagnostics.push(errorAt('bad-remote', locator.key(['remotes', name]), `remote "${name}": region, endpoint and pathStyle are for s3:// remotes`));
    }
    if (remote.endpoint !== undefined) {
      const endpoint = parseRemoteUrl(remote.endpoint, '.');
      if (!endpoint.ok || endpoint.value.kind !== 'http') {
        diagnostics.push(
          errorAt('bad-remote', masked(locator.value(['remotes', name, 'endpoint'])), `remote "${name}": the endpoint must be an http(s) URL without credentials`),
        );
      }
    }
    remotes.set(name, {
      name,
      spec: spec.value,
      push: remote.push ?? false,
      read: remote.read ?? true,
      policy: {
        timeoutMs: remote.timeout === undefined ? DEFAULT_TRANSFER_POLICY.timeoutMs : Math.round(remote.timeout * 1000),
        retries: remote.retries ?? DEFAULT_TRANSFER_POLICY.retries,
      },
      s3: {
        ...(remote.region === undefined ? {} : {region: remote.region}),
        ...(remote.endpoint === undefined ? {} : {endpoint: remote.endpoint}),
        ...(remote.pathStyle === undefined ? {} : {pathStyle: remote.pathStyle}),
      },
    });
  }
  if (raw.default !== undefined && !Object.hasOwn(raw.remotes ?? {}, raw.default)) {
    diagnostics.push(
      errorAt('bad-remote', locator.value(['default']), `default remote "${raw.default}" is not in remotes`,
        didYouMeanHint(raw.default, Object.keys(raw.remotes ?? {})) ?? `remotes: ${Object.keys(raw.remotes ?? {}).join(', ') || 'none'}`),
    );
  }
  if (raw.cluster?.redis !== undefined) {
    const address = parseRedisUrl(raw.cluster.redis, {});
    const location = masked(locator.value(['cluster', 'redis']));
    if (!address.ok) diagnostics.push(errorAt('bad-cluster', location, address.error.message, address.error.hint));
    else if (new URL(raw.cluster.redis).password !== '') {
      diagnostics.push(errorAt('bad-cluster', location, 'the Redis URL in the config must not contain a password', `put it in ${REDIS_PASSWORD_VARIABLE}`));
    }
  }
  const queueProblem = raw.cluster?.queue === undefined ? undefined : queueNameProblem(raw.cluster.queue);
  if (queueProblem !== undefined) diagnostics.push(errorAt('bad-cluster', locator.value(['cluster', 'queue']), queueProblem));
  if (diagnostics.length > 0) return fail(diagnostics);
  return ok({
    file,
    remotes,
    ...(raw.default === undefined ? {} : {defaultRemote: raw.default}),
    ...(raw.executor === undefined ? {} : {executor: raw.executor}),
    ...(raw.cluster === undefined
      ? {}
      : {cluster: {queue: raw.cluster.queue ?? DEFAULT_QUEUE, ...(raw.cluster.redis === undefined ? {} : {redis: raw.cluster.redis})}}),
  });
}
