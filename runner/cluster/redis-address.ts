/**
 * The Redis server of a cluster: `redis://[USER:PASSWORD@]HOST[:PORT][/DB]` (`rediss://` for TLS). The password may
 * be in the URL or in DISTILLERY_REDIS_PASSWORD; either way it is never shown: messages use `display`, and `redact`
 * blanks it in any text that came back from the client.
 */
import type {Result} from '../result.js';
import {fail, ok} from '../result.js';

/** The variable a Redis password may come from instead of the URL. */
export const REDIS_PASSWORD_VARIABLE = 'DISTILLERY_REDIS_PASSWORD';

/** Connection settings in the shape ioredis (and so BullMQ) takes. */
export interface RedisConnection {
  readonly host: string;
  readonly port: number;
  readonly db: number;
  readonly username?: string;
  readonly password?: string;
  readonly tls?: Record<string, never>;
}

/** A parsed Redis address. */
export interface RedisAddress {
  /** The URL as shown in messages and logs: any user and password replaced by `***`. */
  readonly display: string;
  readonly connection: RedisConnection;
}

/** Parses a Redis URL; `env` may supply the password. */
export function parseRedisUrl(text: string, env: NodeJS.ProcessEnv): Result<RedisAddress, {message: string; hint?: string}> {
  const hint = 'write redis://HOST:PORT (or rediss:// for TLS), e.g. redis://queue-box:6379/0';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail({message: `cannot read "${maskRedisUrl(text)}" as a Redis URL`, hint});
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    return fail({message: `a Redis URL starts with redis:// or rediss://, not ${url.protocol}//`, hint});
  }
  if (url.hostname === '') return fail({message: 'the Redis URL names no host', hint});
  const port = url.port === '' ? 6379 : Number(url.port);
  const dbText = url.pathname.replace(/^\/+|\/+$/g, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) return fail({message: `the Redis database must be a number, got "${dbText}"`, hint});
  if (url.search !== '' || url.hash !== '') return fail({message: 'a Redis URL takes no query string or fragment', hint});
  const username = url.username === '' ? undefined : decodeURIComponent(url.username);
  const fromUrl = url.password === '' ? undefined : decodeURIComponent(url.password);
  const fromEnv = env[REDIS_PASSWORD_VARIABLE] === '' ? undefined : env[REDIS_PASSWORD_VARIABLE];
  const password = fromUrl ?? fromEnv;
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const display = `${url.protocol}//${username !== undefined || fromUrl !== undefined ? '***@' : ''}${url.host}${db === 0 ? '' : `/${db}`}`;
  return ok({
    display,
    connection: {
      host,
      port,
      db,
      ...(username === undefined ? {} : {username}),
      ...(password === undefined ? {} : {password}),
      ...(url.protocol === 'rediss:' ? {tls: {}} : {}),
    },
  });
}

/** `text` with a `user:password@` part replaced by `***@`, for showing an address that could not be parsed. */
export function maskRedisUrl(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/** `text` with the address's password blanked, for messages that came from the Redis client. */
export function redactRedis(text: string, address: RedisAddress): string {
  const secret = address.connection.password;
  if (secret === undefined || secret === '') return text;
  let out = text;
  for (const form of new Set([secret, encodeURIComponent(secret)])) out = out.split(form).join('***');
  return out;
}
