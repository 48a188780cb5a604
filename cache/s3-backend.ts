/**
 * A remote in an S3 bucket (AWS, or an S3-compatible server: MinIO, Ceph, R2, ...), through the official client.
 *
 * Region, endpoint and credentials come from where every AWS tool reads them: AWS_REGION, AWS_ENDPOINT_URL(_S3),
 * AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_SESSION_TOKEN, AWS_PROFILE with ~/.aws/config and credentials, SSO,
 * instance roles. The client reads them from this process's environment. A remote's config entry may name a region
 * and an endpoint (neither is a secret); a custom endpoint switches to path-style addressing, which S3-compatible
 * servers expect, unless `pathStyle: false` says otherwise.
 */
import {createReadStream} from 'node:fs';
import {Readable} from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import type {S3ClientConfig} from '@aws-sdk/client-s3';
import {Upload} from '@aws-sdk/lib-storage';
import type {Listing, ObjectBackend, ObjectBody, TransferPolicy} from './remote-backend.js';
import {RemoteError} from './remote-backend.js';
import {redact} from './secrets.js';

/** S3 settings a project config may give (never credentials). */
export interface S3Settings {
  readonly region?: string;
  readonly endpoint?: string;
  readonly pathStyle?: boolean;
}

/** Objects above this size go up in parts (S3 refuses single PUTs over 5 GiB; parts also retry independently). */
const PART_SIZE = 16 * 1024 * 1024;

interface AwsErrorShape {
  readonly name?: string;
  readonly message?: string;
  readonly code?: string;
  readonly $metadata?: {readonly httpStatusCode?: number};
}

function statusOf(error: unknown): number | undefined {
  return (error as AwsErrorShape | null)?.$metadata?.httpStatusCode;
}

function isMissing(error: unknown): boolean {
  const name = (error as AwsErrorShape | null)?.name;
  return name === 'NoSuchKey' || name === 'NotFound' || statusOf(error) === 404;
}

/** Turns anything the client threw into a RemoteError with a redacted message. */
function classify(error: unknown, what: string, location: string): RemoteError {
  const e = (error ?? {}) as AwsErrorShape;
  const name = e.name ?? 'Error';
  const detail = redact(`${name}: ${e.message ?? String(error)}`);
  const status = statusOf(error);
  if (name === 'CredentialsProviderError') {
    return new RemoteError('refused', `${what} ${location}: no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or AWS_PROFILE)`);
  }
  if (/region is missing/i.test(e.message ?? '')) {
    return new RemoteError('failed', `${what} ${location}: no AWS region (set AWS_REGION, or region: in the remote's config)`);
  }
  if (status === 401 || status === 403) return new RemoteError('refused', `${what} ${location}: access refused (${detail})`);
  if (status === undefined || status >= 500 || status === 429) return new RemoteError('unavailable', `${what} ${location}: ${detail}`);
  return new RemoteError('failed', `${what} ${location}: HTTP ${status} (${detail})`);
}

/** The S3 backend. */
export class S3Backend implements ObjectBackend {
  readonly kind = 's3' as const;
  readonly location: string;
  readonly #client: S3Client;
  readonly #bucket: string;
  readonly #prefix: string;

  constructor(bucket: string, prefix: string, settings: S3Settings, policy: TransferPolicy) {
    this.#bucket = bucket;
    this.#prefix = prefix === '' ? '' : `${prefix}/`;
    this.location = `s3://${bucket}${prefix === '' ? '' : `/${prefix}`}`;
    // The SDK warns on every start under Node 20 about its future Node 22 requirement; this CLI supports Node 20, and
    // the warning on stderr would only confuse its users.
    process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';
    const endpoint = settings.endpoint ?? process.env['AWS_ENDPOINT_URL_S3'] ?? process.env['AWS_ENDPOINT_URL'];
    const config: S3ClientConfig = {
      ...(settings.region === undefined ? {} : {region: settings.region}),
      ...(settings.endpoint === undefined ? {} : {endpoint: settings.endpoint}),
      forcePathStyle: settings.pathStyle ?? endpoint !== undefined,
      maxAttempts: policy.retries + 1,
      requestHandler: {connectionTimeout: policy.timeoutMs, requestTimeout: policy.timeoutMs},
      // Newer clients send streaming checksum trailers by default, which many S3-compatible servers reject; entries
      // carry their own content hashes, checked on download. The standard variables still override this.
      ...(process.env['AWS_REQUEST_CHECKSUM_CALCULATION'] === undefined ? {requestChecksumCalculation: 'WHEN_REQUIRED' as const} : {}),
      ...(process.env['AWS_RESPONSE_CHECKSUM_VALIDATION'] === undefined ? {responseChecksumValidation: 'WHEN_REQUIRED' as const} : {}),
    };
    this.#client = new S3Client(config);
  }

  #key(path: string): string {
    return this.#prefix + path;
  }

  async read(path: string): Promise<Readable | undefined> {
    try {
      const out = await this.#client.send(new GetObjectCommand({Bucket: this.#bucket, Key: this.#key(path)}));
      const body = out.Body;
      if (body === undefined) return Readable.from([]);
      return body instanceof Readable ? body : Readable.fromWeb(body.transformToWebStream() as never);
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw classify(error, 'cannot read', `${this.location}/${path}`);
    }
  }

  async size(path: string): Promise<number | undefined> {
    try {
      const out = await this.#client.send(new HeadObjectCommand({Bucket: this.#bucket, Key: this.#key(path)}));
      return out.ContentLength ?? 0;
    } catch (error) {
      if (isMissing(error)) return undefined;
      throw classify(error, 'cannot reach', `${this.location}/${path}`);
    }
  }

  async write(path: string, body: ObjectBody): Promise<void> {
    try {
      if ('bytes' in body) {
        await this.#client.send(new PutObjectCommand({Bucket: this.#bucket, Key: this.#key(path), Body: body.bytes, ContentLength: body.bytes.length}));
      } else if (body.size <= PART_SIZE) {
        await this.#client.send(
          new PutObjectCommand({Bucket: this.#bucket, Key: this.#key(path), Body: createReadStream(body.file), ContentLength: body.size}),
        );
      } else {
        const upload = new Upload({
          client: this.#client,
          params: {Bucket: this.#bucket, Key: this.#key(path), Body: createReadStream(body.file, {highWaterMark: 1 << 20})},
          partSize: PART_SIZE,
          queueSize: 2,
          leavePartsOnError: false,
        });
        await upload.done();
      }
    } catch (error) {
      throw classify(error, 'cannot write', `${this.location}/${path}`);
    }
  }

  async remove(path: string): Promise<void> {
    try {
      await this.#client.send(new DeleteObjectCommand({Bucket: this.#bucket, Key: this.#key(path)}));
    } catch (error) {
      if (isMissing(error)) return;
      throw classify(error, 'cannot delete', `${this.location}/${path}`);
    }
  }

  async list(folder: string): Promise<Listing> {
    const prefix = this.#key(folder === '' ? '' : `${folder}/`);
    const files: string[] = [];
    const folders: string[] = [];
    let token: string | undefined;
    try {
      do {
        const out = await this.#client.send(
          new ListObjectsV2Command({Bucket: this.#bucket, Prefix: prefix, Delimiter: '/', ...(token === undefined ? {} : {ContinuationToken: token})}),
        );
        for (const c of out.Contents ?? []) if (c.Key !== undefined) files.push(c.Key.slice(prefix.length));
        for (const p of out.CommonPrefixes ?? []) if (p.Prefix !== undefined) folders.push(p.Prefix.slice(prefix.length).replace(/\/$/, ''));
        token = out.IsTruncated === true ? out.NextContinuationToken : undefined;
      } while (token !== undefined);
    } catch (error) {
      throw classify(error, 'cannot list', this.location);
    }
    return {files: files.filter((f) => f !== '' && !f.includes('/')).sort(), folders: folders.filter((f) => f !== '').sort()};
  }

  close(): void {
    this.#client.destroy();
  }
}
