/**
 * The options that say where a cluster's queue is, shared by `run --executor bullmq` and `worker`: `--redis`, else
 * DISTILLERY_REDIS, else the config's `cluster.redis`; `--queue`, else the config's `cluster.queue`, else
 * `distillery`. A password in a URL is masked in every message.
 */
import type {RedisAddress} from '../cluster/redis-address.js';
import {maskRedisUrl, parseRedisUrl, REDIS_PASSWORD_VARIABLE} from '../cluster/redis-address.js';
import {DEFAULT_QUEUE, queueNameProblem} from '../cluster/cluster-protocol.js';
import type {Diagnostic} from '../diagnostic.js';
import {errorAt} from '../diagnostic.js';
import type {ProjectConfig} from '../project-config.js';
import type {Result} from '../result.js';
import {fail, ok} from '../result.js';
import {SourceText} from '../source-text.js';
import type {CommandIO} from './command.js';

/** The parseArgs options. */
export const CLUSTER_OPTIONS = {
  redis: {type: 'string'},
  queue: {type: 'string'},
} as const;

/** Help lines for CLUSTER_OPTIONS. */
export const CLUSTER_HELP = `  --redis URL         the cluster's Redis, redis://HOST:PORT[/DB] or rediss://... (default: $DISTILLERY_REDIS,
                      else the config's cluster.redis); a password may be in the URL or in
                      ${REDIS_PASSWORD_VARIABLE}, and is never shown
  --queue NAME        the cluster's queue (default: the config's cluster.queue, else ${DEFAULT_QUEUE})`;

/** The values of CLUSTER_OPTIONS after parsing. */
export interface ClusterFlags {
  readonly redis?: string | undefined;
  readonly queue?: string | undefined;
}

/** Where the cluster is. */
export interface ClusterSettings {
  readonly address: RedisAddress;
  readonly queue: string;
}

/** Resolves the cluster's Redis and queue, or a located diagnostic. */
export function clusterSettings(flags: ClusterFlags, config: ProjectConfig, io: Pick<CommandIO, 'env'>): Result<ClusterSettings, Diagnostic> {
  const fromEnv = io.env['DISTILLERY_REDIS'] === '' ? undefined : io.env['DISTILLERY_REDIS'];
  const text = flags.redis ?? fromEnv ?? config.cluster?.redis;
  const where = (): SourceText =>
    flags.redis !== undefined
      ? new SourceText('command line', `--redis ${maskRedisUrl(flags.redis)}`)
      : fromEnv !== undefined
        ? new SourceText('environment', `DISTILLERY_REDIS=${maskRedisUrl(fromEnv)}`)
        : new SourceText(config.file ?? 'distillery.config.yaml', `redis: ${text ?? ''}`);
  const at = (source: SourceText) => source.location(Math.max(0, source.text.search(/[ =]/) + 1), source.text.length);
  if (text === undefined) {
    const source = new SourceText('command line', '--redis');
    return fail(
      errorAt('bad-cluster', source.location(0, source.text.length), 'no Redis given for the cluster',
        'give --redis redis://HOST:PORT, set DISTILLERY_REDIS, or add cluster: {redis: ...} to distillery.config.yaml'),
    );
  }
  const address = parseRedisUrl(text, io.env);
  if (!address.ok) return fail(errorAt('bad-cluster', at(where()), address.error.message, address.error.hint));
  const queue = flags.queue ?? config.cluster?.queue ?? DEFAULT_QUEUE;
  const problem = queueNameProblem(queue);
  if (problem !== undefined) {
    const source = new SourceText('command line', `--queue ${queue}`);
    return fail(errorAt('bad-cluster', at(source), problem));
  }
  return ok({address: address.value, queue});
}
