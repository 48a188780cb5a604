/**
 * What the remote side of a store reports while a command runs. The store emits these to a callback; the run command
 * turns them into run events (adding the instance id of the key), so loggers render them and run records keep them.
 * Reasons are redacted: they never carry credentials.
 */

/** Every remote event; discriminated by `type`. */
export type RemoteEvent =
  /** An entry was downloaded, verified and committed to the local cache. */
  | {readonly type: 'remote-fetched'; readonly remote: string; readonly key: string; readonly bytes: number; readonly seconds: number}
  /** A freshly committed entry was uploaded (write-through). */
  | {readonly type: 'remote-pushed'; readonly remote: string; readonly key: string; readonly bytes: number; readonly seconds: number}
  /** An upload failed; the entry stays local (a later `distillery push` retries it). */
  | {readonly type: 'remote-push-failed'; readonly remote: string; readonly key: string; readonly reason: string}
  /** A remote entry did not match its manifest, or its manifest is unusable; it was not used and the key is computed. */
  | {readonly type: 'remote-bad-entry'; readonly remote: string; readonly key: string; readonly reason: string}
  /** The remote is down, too slow or refuses us: it is not asked again by this command, which goes on locally. */
  | {readonly type: 'remote-unavailable'; readonly remote: string; readonly reason: string};

/** Receives remote events. */
export type RemoteEventSink = (event: RemoteEvent) => void;
