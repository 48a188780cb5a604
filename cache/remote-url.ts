/**
 * Remote addresses: a folder (`/mnt/shared/cache`, `./shared`, `file:///mnt/shared/cache`), an S3 bucket and prefix
 * (`s3://bucket/prefix`) or an HTTP(S) base URL (`https://cache.example.com/distillery`). Parsing refuses anything that
 * could carry a credential (a user or password in the URL, a query string), because the URL is written to config files,
 * messages and run records, while credentials belong in the environment.
 */
import {isAbsolute, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {unreachable} from './unreachable.js';

/** Where a remote is. */
export type RemoteSpec =
  | {readonly kind: 'folder'; readonly path: string}
  | {readonly kind: 's3'; readonly bucket: string; readonly prefix: string}
  | {readonly kind: 'http'; readonly url: string};

/** Why an address was refused, with a hint to show under it. */
export interface UrlProblem {
  readonly message: string;
  readonly hint?: string;
}

const CREDENTIAL_HINT =
  'put credentials in the environment: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE for S3, ' +
  'DISTILLERY_HTTP_TOKEN (or DISTILLERY_HTTP_USER and DISTILLERY_HTTP_PASSWORD) for HTTP';

/** `text` with a `user:password@` part replaced by `***@`, for showing the text of a refused address. */
export function maskUserInfo(text: string): string {
  return text.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^/@]*@/i, '$1***@');
}

/**
 * Parses a remote address. A plain path is a folder, relative to `baseDir` (the config file's folder, or the working
 * directory for `--remote`).
 */
export function parseRemoteUrl(text: string, baseDir: string): Result<RemoteSpec, UrlProblem> {
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(text)?.[1]?.toLowerCase();
  if (scheme === undefined) {
    if (text.trim() === '') return fail({message: 'the remote address is empty'});
    return ok({kind: 'folder', path: isAbsolute(text) ? text : resolve(baseDir, text)});
  }
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return fail({message: `cannot read ${JSON.stringify(maskUserInfo(text))} as a URL`});
  }
  if (url.username !== '' || url.password !== '') {
    return fail({message: 'a remote URL must not contain a user name or password', hint: CREDENTIAL_HINT});
  }
  if (url.search !== '' || url.hash !== '') {
    return fail({message: 'a remote URL must not have a query string or fragment (it could hold a token)', hint: CREDENTIAL_HINT});
  }
  switch (scheme) {
    case 'file':
      try {
        return ok({kind: 'folder', path: fileURLToPath(url)});
      } catch (error) {
        return fail({message: `cannot use ${text} as a folder: ${error instanceof Error ? error.message : String(error)}`});
      }
    case 's3': {
      const bucket = url.hostname;
      if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
        return fail({message: `"${bucket}" is not a valid S3 bucket name`, hint: 'write s3://BUCKET/PREFIX'});
      }
      const prefix = decodeURIComponent(url.pathname).replace(/^\/+|\/+$/g, '');
      return ok({kind: 's3', bucket, prefix});
    }
    case 'http':
    case 'https':
      return ok({kind: 'http', url: url.href.replace(/\/+$/, '')});
    default:
      return fail({
        message: `remotes of scheme "${scheme}:" are not supported`,
        hint: 'use a folder path, file://, s3:// or http(s)://',
      });
  }
}

/** The address as shown to users. */
export function describeSpec(spec: RemoteSpec): string {
  switch (spec.kind) {
    case 'folder':
      return spec.path;
    case 's3':
      return `s3://${spec.bucket}${spec.prefix === '' ? '' : `/${spec.prefix}`}`;
    case 'http':
      return spec.url;
    default:
      return unreachable(spec);
  }
}
