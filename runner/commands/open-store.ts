/**
 * The one place commands open their cache: the local store (`--cache-dir`, DISTILLERY_CACHE, `.distillery/cache`)
 * and, when one is chosen, a remote behind it. The remote is `--remote NAME|URL`, else DISTILLERY_REMOTE, else the
 * project config's `default:`; `--no-remote` turns it off. Commands then talk to a CacheStore and never know which
 * backend is there.
 */
import {existsSync} from 'node:fs';
import type {CacheStore} from '../../cache/store.js';
import type {RemoteEventSink} from '../../cache/remote-events.js';
import type {RemoteStore} from '../../cache/remote-store.js';
import {describeSpec, maskUserInfo, parseRemoteUrl} from '../../cache/remote-url.js';
import type {TieredStore} from '../../cache/tiered-store.js';
import {DEFAULT_TRANSFER_POLICY} from '../../cache/remote-backend.js';
import type {Diagnostic} from '../diagnostic.js';
import {errorAt, renderDiagnostics} from '../diagnostic.js';
import {didYouMeanHint} from '../did-you-mean.js';
import type {ProjectConfig, RemoteConfig} from '../project-config.js';
import {loadProjectConfig} from '../project-config.js';
import type {Result} from '../result.js';
import {fail, ok} from '../result.js';
import {SourceText} from '../source-text.js';
import {resolveCacheDir} from './cache-dir.js';
import type {CommandIO} from './command.js';

/** The parseArgs options every store-opening command accepts. */
export const STORE_OPTIONS = {
  'cache-dir': {type: 'string'},
  remote: {type: 'string'},
  'no-remote': {type: 'boolean'},
} as const;

/** Help lines for STORE_OPTIONS. */
export const STORE_HELP = `  --cache-dir DIR     cache location (default: $DISTILLERY_CACHE, else .distillery/cache)
  --remote NAME|URL   remote cache: a name from distillery.config.yaml, a folder, s3://BUCKET/PREFIX or
                      http(s)://... (default: $DISTILLERY_REMOTE, else the config's default)
  --no-remote         use no remote even if one is configured`;

/** The values of STORE_OPTIONS after parsing. */
export interface StoreFlags {
  readonly 'cache-dir'?: string | undefined;
  readonly remote?: string | undefined;
  readonly 'no-remote'?: boolean | undefined;
}

/** What the command needs. */
export interface StoreRequest {
  /** Fetch local misses from the remote (run, export). */
  readonly readThrough?: boolean;
  /** `--push` given: upload every commit. The remote's `push: true` in the config does the same. */
  readonly push?: boolean;
  /** Open the local cache only if its folder exists (plan, results: looking must not create a cache). */
  readonly onlyIfExists?: boolean;
  /**
   * `read`: the command only looks (ls, verify, plan, results, export), so a cache it may not write to still works and
   * nothing in it changes. Read-through from a remote commits downloads, so it opens the local cache for writing.
   * Default `write`.
   */
  readonly mode?: 'read' | 'write';
  /** Refuse to go on without a remote (push, pull, remote). */
  readonly requireRemote?: boolean;
  readonly onEvent?: RemoteEventSink;
}

/** The opened stores. */
export interface OpenedStore {
  /** What the command reads and writes: the local cache, or the local cache with the remote behind it. */
  readonly store: CacheStore;
  /** The local cache alone; undefined when `onlyIfExists` and there is none yet. */
  readonly local: CacheStore | undefined;
  /** The remote, when one is chosen. */
  readonly remote?: RemoteStore;
  /** The tiered store, when a remote is chosen (for write-through flushing and manifest look-ups). */
  readonly tiered?: TieredStore;
  /** Releases the remote's connections. */
  close(): void;
}

/** The remote a command uses, resolved from flags, environment and config. */
export interface RemoteChoice {
  readonly name: string;
  readonly config: RemoteConfig;
}

function adHoc(value: string, cwd: string): Result<RemoteConfig, {message: string; hint?: string}> {
  const spec = parseRemoteUrl(value, cwd);
  if (!spec.ok) return spec;
  return ok({name: describeSpec(spec.value), spec: spec.value, push: false, read: true, policy: DEFAULT_TRANSFER_POLICY, s3: {}});
}

/** Resolves `--remote` / DISTILLERY_REMOTE / the config default to a remote (undefined: none). */
export function chooseRemote(config: ProjectConfig, flags: StoreFlags, io: CommandIO): Result<RemoteChoice | undefined, Diagnostic> {
  if (flags['no-remote'] === true) return ok(undefined);
  const fromFlag = flags.remote;
  const fromEnv = io.env['DISTILLERY_REMOTE'] === '' ? undefined : io.env['DISTILLERY_REMOTE'];
  const value = fromFlag ?? fromEnv;
  if (value === undefined) {
    const name = config.defaultRemote;
    const remote = name === undefined ? undefined : config.remotes.get(name);
    return ok(name === undefined || remote === undefined ? undefined : {name, config: remote});
  }
  const source = fromFlag !== undefined ? new SourceText('command line', `--remote ${maskUserInfo(value)}`) : new SourceText('environment', `DISTILLERY_REMOTE=${maskUserInfo(value)}`);
  const at = source.location(source.text.indexOf(fromFlag !== undefined ? ' ' : '=') + 1, source.text.length);
  const named = config.remotes.get(value);
  if (named !== undefined) return ok({name: value, config: named});
  if (/^[A-Za-z][A-Za-z0-9_-]*$/.test(value)) {
    const names = [...config.remotes.keys()];
    return fail(
      errorAt('bad-remote', at, `no remote named "${value}"${config.file === undefined ? ' (there is no distillery.config.yaml)' : ''}`,
        didYouMeanHint(value, names) ?? (names.length > 0 ? `remotes: ${names.join(', ')}` : 'give a folder, s3://BUCKET/PREFIX or an http(s) URL, or add remotes to distillery.config.yaml')),
    );
  }
  const remote = adHoc(value, io.cwd);
  if (!remote.ok) return fail(errorAt('bad-remote', at, remote.error.message, remote.error.hint));
  return ok({name: remote.value.name, config: remote.value});
}

/**
 * Opens the stores for a command; undefined after writing diagnostics to stderr (bad config, unknown remote: exit 2).
 */
export async function openStore(flags: StoreFlags, io: CommandIO, request: StoreRequest = {}): Promise<OpenedStore | undefined> {
  const report = (diagnostics: readonly Diagnostic[]): undefined => {
    io.stderr.write(renderDiagnostics(diagnostics, {color: io.stderr.isTTY === true}));
    return undefined;
  };
  const config = flags['no-remote'] === true ? ok<ProjectConfig>({remotes: new Map()}) : await loadProjectConfig(io.cwd);
  if (!config.ok) return report(config.error);
  const choice = chooseRemote(config.value, flags, io);
  if (!choice.ok) return report([choice.error]);
  if (choice.value === undefined && request.requireRemote === true) {
    const where = new SourceText('command line', '--remote');
    return report([
      errorAt('bad-remote', where.location(0, where.text.length), 'no remote chosen',
        'give --remote NAME|URL, set DISTILLERY_REMOTE, or add `default:` to distillery.config.yaml'),
    ]);
  }
  const dir = resolveCacheDir(flags['cache-dir'], io.env, io.cwd);
  const {LocalStore} = await import('../../cache/local-store.js');
  const mode = request.readThrough === true && choice.value !== undefined ? 'write' : (request.mode ?? 'write');
  const local = request.onlyIfExists === true && !existsSync(dir) ? undefined : await LocalStore.open(dir, {mode});
  const {EmptyStore} = await import('../../cache/empty-store.js');
  if (choice.value === undefined) {
    return {store: local ?? new EmptyStore(dir), local, close: () => undefined};
  }
  const [{openRemote}, {TieredStore}] = await Promise.all([import('../../cache/open-remote.js'), import('../../cache/tiered-store.js')]);
  const remoteConfig = choice.value.config;
  const remote = await openRemote({name: choice.value.name, spec: remoteConfig.spec, policy: remoteConfig.policy, s3: remoteConfig.s3}, io.env);
  const tiered = new TieredStore(local ?? new EmptyStore(dir), remote, {
    readThrough: request.readThrough === true && remoteConfig.read,
    writeThrough: request.push === true || remoteConfig.push,
    ...(request.onEvent === undefined ? {} : {onEvent: request.onEvent}),
  });
  return {store: tiered, local, remote, tiered, close: () => remote.close()};
}
