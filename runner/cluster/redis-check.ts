/**
 * A quick look at what a cluster command needs before it starts: BullMQ's clients reconnect forever, which is right
 * once running (Redis may restart) but would leave a command started with a wrong address hanging in silence; and a
 * remote that cannot be read would fail every job.
 */
import {Redis} from 'ioredis';
import type {RemoteStore} from '../../cache/remote-store.js';
import type {RedisAddress} from './redis-address.js';
import {redactRedis} from './redis-address.js';

/** Undefined when the server answers PING within `timeoutMs`, else why not (without the password). */
export async function redisProblem(address: RedisAddress, timeoutMs = 5_000): Promise<string | undefined> {
  const client = new Redis({
    ...address.connection,
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  });
  // An 'error' event without a listener would end the process; it also has the server's own words (WRONGPASS ...),
  // where the rejection of the command only says that the connection closed.
  let said: string | undefined;
  client.on('error', (error: Error) => (said ??= error.message));
  try {
    await client.connect();
    await client.ping();
    return undefined;
  } catch (error) {
    const message = said ?? (error instanceof Error ? error.message : String(error));
    return `cannot reach Redis at ${address.display}: ${redactRedis(message, address)}`;
  } finally {
    client.disconnect();
  }
}

/** Undefined when the remote answers a look-up (of a key no entry has), else why not. */
export async function remoteProblem(remote: RemoteStore): Promise<string | undefined> {
  const probe = await remote.lookup('0000000000000000');
  return probe.status === 'failed' ? `remote ${remote.name} is unavailable: ${probe.reason}` : undefined;
}
