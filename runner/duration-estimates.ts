/**
 * How long each instance of a plan is expected to take, for the progress ETA: the recorded duration of the same key
 * when it was computed before (a recomputation after a gc, a retried run), else the median recorded duration of
 * its node type, from past run records and from the instances of this run that have finished.
 */
import type {Plan} from './plan.js';
import type {RecordedDurations} from './run-history.js';
import type {DurationEstimator} from './loggers/run-tally.js';

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid] : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}

/** Estimates for the instances of one plan. */
export class DurationEstimates implements DurationEstimator {
  readonly #plan: Plan;
  #byKey: ReadonlyMap<string, number> = new Map();
  readonly #byType = new Map<string, number[]>();
  /** Medians by type, recomputed only when a type's samples change. */
  readonly #medians = new Map<string, number | undefined>();
  #loading: Promise<void> | undefined;

  constructor(plan: Plan) {
    this.#plan = plan;
  }

  /**
   * Reads the recorded durations once (later calls return the same promise). Called when the first instance starts,
   * so a fully cached run never reads past records.
   */
  load(read: (types: ReadonlySet<string>) => Promise<RecordedDurations>): Promise<void> {
    this.#loading ??= read(new Set([...this.#plan.nodes.values()].map((n) => n.type))).then(
      (recorded) => this.#use(recorded),
      // Estimates only improve the display: unreadable records leave them empty.
      () => undefined,
    );
    return this.#loading;
  }

  #use(recorded: RecordedDurations): void {
    this.#byKey = recorded.byKey;
    for (const [type, samples] of recorded.byType) {
      // This run's own durations, learnt while the records were read, come first (they are the newest).
      this.#byType.set(type, [...(this.#byType.get(type) ?? []), ...samples]);
      this.#medians.delete(type);
    }
  }

  ids(): Iterable<string> {
    return this.#plan.order;
  }

  expected(id: string): number | undefined {
    const node = this.#plan.nodes.get(id);
    if (node === undefined) return undefined;
    const own = this.#byKey.get(node.key);
    if (own !== undefined) return own;
    if (!this.#medians.has(node.type)) this.#medians.set(node.type, median(this.#byType.get(node.type) ?? []));
    return this.#medians.get(node.type);
  }

  learn(id: string, seconds: number): void {
    const node = this.#plan.nodes.get(id);
    if (node === undefined || !Number.isFinite(seconds)) return;
    this.#byType.set(node.type, [seconds, ...(this.#byType.get(node.type) ?? [])]);
    this.#medians.delete(node.type);
  }
}
