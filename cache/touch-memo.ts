/**
 * The touch memo: when a run last touched the `.used` file (the last-use time that `gc` orders entries by) of every
 * entry of a set of keys, so that runs over the same keys touch them at most once per {@link TOUCH_INTERVAL_MS}. For
 * a cached run of a thousand instances that is a thousand `utimes` calls saved; `gc`'s least-recently-used order is
 * then exact to within the interval.
 *
 * It only ever saves touches, and never decides what is a hit: a memo that is missing, unreadable, malformed, old
 * or of another format means that every hit touches its entry, as without a memo. A memo belongs to a run's lease
 * (LocalStore.lease): read when the run registers its keys, and written when it releases them if the run touched
 * every one of them, aside and renamed so that a reader never sees half of one. It holds one time for the whole
 * set, the run's first touch, so reading it costs next to nothing. Memos live in
 * `<cache>/memo/<xxhash64 of the keys>.json`; `gc` removes those not written for {@link MEMO_STALE_MS}.
 */
import {mkdirSync, readFileSync, renameSync, rmSync, writeFileSync} from 'node:fs';
import {join} from 'node:path';
import {randomHex} from './random-hex.js';

/** The folder of memo files under a cache root. */
export const MEMO_DIR = 'memo';
/** The name of a memo file, or of one being written: only such files are ever removed from the folder. */
export const MEMO_NAME = /^[0-9a-f]{16}\.json(?:\.\d+\.[0-9a-f]{8}\.tmp)?$/;
/**
 * Runs over the same keys touch their entries at most this often, so `gc`'s least-recently-used order is exact to
 * within it (an hour, against collections that are days or gigabytes apart).
 */
export const TOUCH_INTERVAL_MS = 3600_000;
/** `gc` removes memo files (and temp files of memos) not written for this long. */
export const MEMO_STALE_MS = 7 * 24 * 3600_000;
/** Bumped whenever the file's format changes; a memo of another format is not used. */
const FORMAT = 1;

/** The touch memo of one set of keys, for one run. */
export class TouchMemo {
  readonly #path: string;
  readonly #keys: ReadonlySet<string>;
  /** When a run last touched every key (ms), per the file; 0 when unknown. */
  readonly #touchedAt: number;
  /** The keys this run touched, and when it touched the first. */
  readonly #touched = new Set<string>();
  #firstTouch = Infinity;

  private constructor(path: string, keys: ReadonlySet<string>, touchedAt: number) {
    this.#path = path;
    this.#keys = keys;
    this.#touchedAt = touchedAt;
  }

  /** The memo named `name` (16 hex digits naming the key set) of `keys` in the cache at `root`. Never throws. */
  static load(root: string, name: string, keys: readonly string[]): TouchMemo {
    const path = join(root, MEMO_DIR, `${name}.json`);
    let touchedAt = 0;
    try {
      const stored = JSON.parse(readFileSync(path, 'utf8')) as {format?: unknown; touchedAt?: unknown};
      const valid = stored.format === FORMAT && typeof stored.touchedAt === 'number' && Number.isFinite(stored.touchedAt);
      if (valid) touchedAt = stored.touchedAt as number;
    } catch {
      // Missing, unreadable or not JSON: every hit touches its entry, and this run writes the memo.
    }
    return new TouchMemo(path, new Set(keys), touchedAt);
  }

  /** Whether `key` is one of the memo's keys. */
  has(key: string): boolean {
    return this.#keys.has(key);
  }

  /** Whether a hit of one of the keys at `now` is to touch its entry: no run touched them all within the interval. */
  needsTouch(now: number): boolean {
    return now - this.#touchedAt >= TOUCH_INTERVAL_MS || this.#touchedAt > now;
  }

  /** Notes that this run touched `key`'s entry at `now`. */
  touched(key: string, now: number): void {
    if (!this.#keys.has(key)) return;
    this.#touched.add(key);
    this.#firstTouch = Math.min(this.#firstTouch, now);
  }

  /**
   * Writes the memo if this run touched every key (its first touch is then when they were all last touched). A
   * failure (a full disk, a read-only folder) only loses the memo, so it is not reported: the next run touches its
   * entries again.
   */
  save(): void {
    if (this.#touched.size === 0 || this.#touched.size < this.#keys.size) return;
    const temp = `${this.#path}.${process.pid}.${randomHex(4)}.tmp`;
    try {
      mkdirSync(join(this.#path, '..'), {recursive: true});
      writeFileSync(temp, JSON.stringify({format: FORMAT, touchedAt: this.#firstTouch}));
      renameSync(temp, this.#path);
    } catch {
      try {
        rmSync(temp, {force: true});
      } catch {
        // Nothing more to do: a stray temp file is removed by gc (its name is ours).
      }
    }
  }
}
