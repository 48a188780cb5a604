/**
 * Real servers for the remote-cache tests, each started on a loopback port with its files in a temp folder and
 * stopped by the test:
 * - Debian's nginx with a WebDAV location that accepts PUT and DELETE and lists folders as JSON (optionally behind a
 *   bearer token or basic auth), run as a single foreground process so it needs no root and no system paths;
 * - an S3 protocol server (s3rver, from the npm registry: no S3 server is packaged for Debian) in its own process;
 * - a "silent" TCP server that accepts connections and never answers, standing in for a hung remote;
 * - Debian's redis-server, the queue of the cluster tests, without persistence.
 * A missing server is an error, never a skip: CI installs nginx and redis-server through .ci/run.
 */
import {spawn} from 'node:child_process';
import type {ChildProcess} from 'node:child_process';
import {existsSync} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {createServer} from 'node:net';
import type {Server, Socket} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {setTimeout as sleep} from 'node:timers/promises';

/** Where Debian installs nginx. */
export const NGINX = '/usr/sbin/nginx';

/** A free loopback port (bound and released; the small race with other processes is acceptable in tests). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

async function waitForPort(port: number, child: ChildProcess, log: () => Promise<string>): Promise<void> {
  const {connect} = await import('node:net');
  for (let i = 0; i < 100; i++) {
    if (child.exitCode !== null) throw new Error(`server exited with code ${child.exitCode}: ${await log()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`server did not listen on ${port}: ${await log()}`);
}

/** A running nginx WebDAV server. */
export interface NginxServer {
  /** Base URL of the WebDAV location (`http://127.0.0.1:PORT/cache`). */
  readonly url: string;
  /** The folder behind that URL. */
  readonly root: string;
  stop(): Promise<void>;
}

/** Starts nginx serving `/cache/` with PUT/DELETE and JSON folder listings; `auth` protects it. */
export async function startNginx(auth?: {token: string} | {user: string; password: string}): Promise<NginxServer> {
  if (!existsSync(NGINX)) throw new Error(`nginx is not installed at ${NGINX} (apt-get install nginx; .ci/run installs it)`);
  const dir = await mkdtemp(join(tmpdir(), 'distillery-nginx-'));
  const root = join(dir, 'www', 'cache');
  await mkdir(root, {recursive: true});
  const port = await freePort();
  let guard = '';
  if (auth !== undefined && 'token' in auth) {
    guard = `if ($http_authorization != "Bearer ${auth.token}") { return 401; }`;
  } else if (auth !== undefined) {
    // nginx reads {PLAIN} passwords in htpasswd files, so the test needs no hashing tool.
    await writeFile(join(dir, 'htpasswd'), `${auth.user}:{PLAIN}${auth.password}\n`);
    guard = `auth_basic "cache"; auth_basic_user_file ${join(dir, 'htpasswd')};`;
  }
  const conf = `daemon off;
master_process off;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'error.log')} warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${join(dir, 'body')};
  proxy_temp_path ${join(dir, 'proxy')};
  fastcgi_temp_path ${join(dir, 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'uwsgi')};
  scgi_temp_path ${join(dir, 'scgi')};
  server {
    listen 127.0.0.1:${port};
    root ${join(dir, 'www')};
    client_max_body_size 0;
    location /cache/ {
      ${guard}
      dav_methods PUT DELETE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      autoindex on;
      autoindex_format json;
    }
  }
}
`;
  await writeFile(join(dir, 'nginx.conf'), conf);
  const child = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log')], {stdio: 'ignore'});
  await waitForPort(port, child, () => readFile(join(dir, 'error.log'), 'utf8').catch(() => ''));
  return {
    url: `http://127.0.0.1:${port}/cache`,
    root,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, {recursive: true, force: true});
    },
  };
}

/** Where Debian installs Redis. */
export const REDIS_SERVER = '/usr/bin/redis-server';

/** A running Redis server. */
export interface RedisServer {
  readonly port: number;
  /** `redis://:PASSWORD@127.0.0.1:PORT`. */
  readonly url: string;
  /** Stops the server (losing everything: it keeps nothing on disk) and starts it again on the same port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts redis-server on a loopback port, its files in a temp folder, requiring `password`. */
export async function startRedis(password: string): Promise<RedisServer> {
  if (!existsSync(REDIS_SERVER)) throw new Error(`redis-server is not installed at ${REDIS_SERVER} (apt-get install redis-server; .ci/run installs it)`);
  const dir = await mkdtemp(join(tmpdir(), 'distillery-redis-'));
  const port = await freePort();
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--save', '', '--appendonly', 'no', '--requirepass', password, '--logfile', join(dir, 'redis.log')];
  const launch = async (): Promise<ChildProcess> => {
    const child = spawn(REDIS_SERVER, args, {stdio: 'ignore'});
    await waitForPort(port, child, () => readFile(join(dir, 'redis.log'), 'utf8').catch(() => ''));
    return child;
  };
  const halt = async (child: ChildProcess): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  let child = await launch();
  return {
    port,
    url: `redis://:${password}@127.0.0.1:${port}`,
    async restart() {
      await halt(child);
      child = await launch();
    },
    async stop() {
      await halt(child);
      await rm(dir, {recursive: true, force: true});
    },
  };
}

/** A running S3 server. */
export interface S3Server {
  /** `http://127.0.0.1:PORT`. */
  readonly endpoint: string;
  /** A bucket that exists. */
  readonly bucket: string;
  /** The access key it accepts (any secret; see below). */
  readonly accessKeyId: string;
  stop(): Promise<void>;
}

/**
 * Starts s3rver in a child process with one bucket. It computes bucket-level (ListObjectsV2) signatures over
 * `/bucket` where the official client signs `/bucket/`, so it runs with --allow-mismatched-signatures; it still
 * refuses unknown access key ids, which is how the tests make it refuse a client.
 */
export async function startS3(): Promise<S3Server> {
  const dir = await mkdtemp(join(tmpdir(), 'distillery-s3-'));
  const bucket = 'team-cache';
  // The package ships its CLI module but not the bin script its package.json names.
  const main = 'require("@20minutes/s3rver/lib/cli.js").parseAsync(process.argv.slice(1), {from: "user"})';
  const child = spawn(
    process.execPath,
    ['-e', main, '--', '-d', dir, '-a', '127.0.0.1', '-p', '0', '-s', '--no-vhost-buckets', '--allow-mismatched-signatures', '--configure-bucket', bucket],
    {stdio: ['ignore', 'pipe', 'pipe']},
  );
  let output = '';
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`s3rver did not start: ${output}`)), 20_000);
    const onData = (chunk: Buffer): void => {
      output += chunk.toString();
      const match = /listening on .*:(\d+)/.exec(output);
      if (match !== null) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`s3rver exited with code ${code}: ${output}`));
    });
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    accessKeyId: 'S3RVER',
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once('exit', resolve));
        child.kill('SIGTERM');
        await exited;
      }
      await rm(dir, {recursive: true, force: true});
    },
  };
}

/** A TCP server that accepts connections and never says anything: a hung remote. */
export async function startSilentServer(): Promise<{url: string; stop(): Promise<void>}> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${address.port}/cache`,
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** The AWS environment for talking to `s3` with the official client, isolated from the machine's own AWS files. */
export function s3Environment(s3: S3Server, dir: string): Record<string, string> {
  return {
    AWS_ACCESS_KEY_ID: s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: 'test-secret-for-s3rver',
    AWS_REGION: 'us-east-1',
    AWS_ENDPOINT_URL: s3.endpoint,
    // Never ask an instance-metadata address for credentials from a test.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_CONFIG_FILE: join(dir, 'no-aws-config'),
    AWS_SHARED_CREDENTIALS_FILE: join(dir, 'no-aws-credentials'),
  };
}
