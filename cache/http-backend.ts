/**
 * A remote behind HTTP(S) GET/HEAD/PUT/DELETE: the protocol of Bazel's and ccache's HTTP caches, served by nginx with
 * WebDAV PUT, bazel-remote, Artifactory and others.
 *
 * Authentication comes from the environment: `DISTILLERY_HTTP_TOKEN` (sent as `Authorization: Bearer ...`), else
 * `DISTILLERY_HTTP_USER` and `DISTILLERY_HTTP_PASSWORD` (basic auth). Redirects are not followed, so the header never
 * travels to another host. Listing a folder (for `remote ls` and pulling everything) needs a server that lists folders
 * as JSON the way nginx's `autoindex_format json` does; entries themselves never need a listing.
 *
 * Written on node:http rather than fetch because the timeout must be one of silence (connecting, waiting for an
 * answer, or a transfer that stalls), not of the whole request: a large artifact may take minutes to upload.
 */
import {createReadStream} from 'node:fs';
import http from 'node:http';
import type {IncomingMessage, OutgoingHttpHeaders} from 'node:http';
import https from 'node:https';
import type {Readable} from 'node:stream';
import {setTimeout as sleep} from 'node:timers/promises';
import type {Listing, ObjectBackend, ObjectBody, TransferPolicy} from './remote-backend.js';
import {RemoteError} from './remote-backend.js';
import {redact} from './secrets.js';

type Method = 'GET' | 'HEAD' | 'PUT' | 'DELETE';

/** The Authorization header from the environment, if any. */
export function authorizationHeader(env: NodeJS.ProcessEnv): string | undefined {
  const token = env['DISTILLERY_HTTP_TOKEN'];
  if (token !== undefined && token !== '') return `Bearer ${token}`;
  const user = env['DISTILLERY_HTTP_USER'];
  if (user !== undefined && user !== '') {
    return `Basic ${Buffer.from(`${user}:${env['DISTILLERY_HTTP_PASSWORD'] ?? ''}`).toString('base64')}`;
  }
  return undefined;
}

/** Network errors worth another attempt. */
const TRANSIENT_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** The HTTP backend. */
export class HttpBackend implements ObjectBackend {
  readonly kind = 'http' as const;
  readonly location: string;
  readonly #base: URL;
  readonly #auth: string | undefined;
  readonly #policy: TransferPolicy;
  readonly #env: NodeJS.ProcessEnv;
  readonly #agent: http.Agent;

  constructor(url: string, policy: TransferPolicy, env: NodeJS.ProcessEnv) {
    this.location = url;
    this.#base = new URL(url.endsWith('/') ? url : `${url}/`);
    this.#auth = authorizationHeader(env);
    this.#policy = policy;
    this.#env = env;
    const Agent = this.#base.protocol === 'https:' ? https.Agent : http.Agent;
    this.#agent = new Agent({keepAlive: true, maxSockets: 8});
  }

  #url(path: string): URL {
    return new URL(path.split('/').map(encodeURIComponent).join('/'), this.#base);
  }

  /** One attempt: resolves to the response (body unread) or rejects with a RemoteError. */
  #attempt(method: Method, url: URL, body?: ObjectBody, accept?: string): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const headers: OutgoingHttpHeaders = {};
      if (this.#auth !== undefined) headers['authorization'] = this.#auth;
      if (accept !== undefined) headers['accept'] = accept;
      if (body !== undefined) {
        headers['content-length'] = 'bytes' in body ? body.bytes.length : body.size;
        headers['content-type'] = 'application/octet-stream';
      }
      const lib = url.protocol === 'https:' ? https : http;
      const request = lib.request(url, {method, headers, agent: this.#agent});
      const seconds = this.#policy.timeoutMs / 1000;
      // A socket timeout fires after that much silence, whichever phase the request is in.
      request.setTimeout(this.#policy.timeoutMs, () => {
        request.destroy(new RemoteError('unavailable', `${method} ${this.#show(url)}: no answer within ${seconds} s`));
      });
      request.on('error', (error: NodeJS.ErrnoException) => {
        if (error instanceof RemoteError) reject(error);
        else reject(new RemoteError('unavailable', `${method} ${this.#show(url)}: ${redact(error.code ?? error.message, this.#env)}`));
      });
      request.on('response', (response) => {
        // The same silence rule while the body streams in.
        response.socket?.setTimeout(this.#policy.timeoutMs);
        resolve(response);
      });
      if (body === undefined) request.end();
      else if ('bytes' in body) request.end(body.bytes);
      else {
        const source = createReadStream(body.file, {highWaterMark: 1 << 20});
        source.on('error', (error) => request.destroy(error));
        source.pipe(request);
      }
    });
  }

  #show(url: URL): string {
    return redact(url.href, this.#env);
  }

  /**
   * A request with bounded retries on transient failures (network errors, timeouts, 5xx, 429) and exponential
   * backoff. Resolves to the response for statuses the caller handles (2xx, 404), rejects with a RemoteError otherwise.
   */
  async #request(method: Method, path: string, body?: ObjectBody, accept?: string): Promise<IncomingMessage> {
    const url = this.#url(path);
    let last: RemoteError | undefined;
    for (let attempt = 0; attempt <= this.#policy.retries; attempt++) {
      if (attempt > 0) await sleep(Math.min(4000, 200 * 2 ** (attempt - 1)) * (0.5 + Math.random()));
      let response: IncomingMessage;
      try {
        response = await this.#attempt(method, url, body, accept);
      } catch (error) {
        last = error instanceof RemoteError ? error : new RemoteError('unavailable', redact(String(error), this.#env));
        const code = (error as NodeJS.ErrnoException).code;
        if (last.kind === 'unavailable' || (code !== undefined && TRANSIENT_CODES.has(code))) continue;
        throw last;
      }
      const status = response.statusCode ?? 0;
      if ((status >= 200 && status < 300) || status === 404) return response;
      response.resume();
      const what = `${method} ${this.#show(url)}: HTTP ${status} ${response.statusMessage ?? ''}`.trimEnd();
      if (status === 401 || status === 403) {
        throw new RemoteError('refused', `${what} (check DISTILLERY_HTTP_TOKEN, or DISTILLERY_HTTP_USER and DISTILLERY_HTTP_PASSWORD)`);
      }
      last = new RemoteError(status >= 500 || status === 429 ? 'unavailable' : 'failed', what);
      if (last.kind !== 'unavailable') throw last;
    }
    throw last ?? new RemoteError('unavailable', `${method} ${this.#show(url)}: no answer`);
  }

  async read(path: string): Promise<Readable | undefined> {
    const response = await this.#request('GET', path);
    if (response.statusCode === 404) {
      response.resume();
      return undefined;
    }
    return response;
  }

  async size(path: string): Promise<number | undefined> {
    const response = await this.#request('HEAD', path);
    response.resume();
    if (response.statusCode === 404) return undefined;
    const length = Number(response.headers['content-length']);
    return Number.isFinite(length) ? length : 0;
  }

  async write(path: string, body: ObjectBody): Promise<void> {
    const response = await this.#request('PUT', path, body);
    response.resume();
    if (response.statusCode === 404) {
      throw new RemoteError('failed', `PUT ${this.#show(this.#url(path))}: HTTP 404 (does the server accept PUT there?)`);
    }
  }

  async remove(path: string): Promise<void> {
    (await this.#request('DELETE', path)).resume();
  }

  async list(folder: string): Promise<Listing> {
    const response = await this.#request('GET', folder === '' ? '' : `${folder}/`, undefined, 'application/json');
    if (response.statusCode === 404) {
      response.resume();
      return {files: [], folders: []};
    }
    const chunks: Buffer[] = [];
    for await (const chunk of response) chunks.push(chunk as Buffer);
    let items: unknown;
    try {
      items = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      items = undefined;
    }
    if (!Array.isArray(items)) {
      throw new RemoteError('failed', `${this.location} does not list folders as JSON (for nginx: autoindex on; autoindex_format json;)`);
    }
    const named = (items as Array<{name?: unknown; type?: unknown}>).filter((i) => typeof i.name === 'string');
    return {
      files: named.filter((i) => i.type === 'file').map((i) => String(i.name)).sort(),
      folders: named.filter((i) => i.type === 'directory').map((i) => String(i.name)).sort(),
    };
  }

  close(): void {
    this.#agent.destroy();
  }
}
