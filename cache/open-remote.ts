/**
 * Opens a remote cache from its address and settings: the one place that picks a backend. The S3 client is loaded
 * only for S3 remotes, so commands that use a folder or HTTP remote (or none) do not pay for it.
 */
import type {ObjectBackend, TransferPolicy} from './remote-backend.js';
import {DEFAULT_TRANSFER_POLICY} from './remote-backend.js';
import type {RemoteSpec} from './remote-url.js';
import {RemoteStore} from './remote-store.js';
import type {S3Settings} from './s3-backend.js';
import {unreachable} from './unreachable.js';

/** Everything needed to open a remote. */
export interface RemoteSettings {
  /** Its name in the project config, or its address when given ad hoc. */
  readonly name: string;
  readonly spec: RemoteSpec;
  readonly policy?: TransferPolicy;
  readonly s3?: S3Settings;
}

/** Opens the backend for a spec. */
export async function openBackend(spec: RemoteSpec, policy: TransferPolicy, s3: S3Settings, env: NodeJS.ProcessEnv): Promise<ObjectBackend> {
  switch (spec.kind) {
    case 'folder': {
      const {FolderBackend} = await import('./folder-backend.js');
      return new FolderBackend(spec.path);
    }
    case 's3': {
      const {S3Backend} = await import('./s3-backend.js');
      return new S3Backend(spec.bucket, spec.prefix, s3, policy);
    }
    case 'http': {
      const {HttpBackend} = await import('./http-backend.js');
      return new HttpBackend(spec.url, policy, env);
    }
    default:
      return unreachable(spec);
  }
}

/** Opens a remote cache (no request is made until it is used). */
export async function openRemote(settings: RemoteSettings, env: NodeJS.ProcessEnv = process.env): Promise<RemoteStore> {
  const backend = await openBackend(settings.spec, settings.policy ?? DEFAULT_TRANSFER_POLICY, settings.s3 ?? {}, env);
  return new RemoteStore(settings.name, backend, env);
}
