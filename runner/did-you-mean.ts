/** "Did you mean ...?" suggestions for misspelt names (keys, node types, node names, ports). */

/**
 * Edit distance with adjacent transpositions (optimal string alignment): insert, delete, substitute and swapping two
 * neighbouring letters each cost 1, so the commonest typos (`wiht`, `gird`) are one edit away.
 */
export function editDistance(a: string, b: string): number {
  if (a === b) return 0;
  let before: number[] = [];
  let previous = Array.from({length: b.length + 1}, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      let best = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, (before[j - 2] ?? 0) + 1);
      current.push(best);
    }
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The closest candidate to `name`, if it is close enough to be a plausible typo: at most a third of the name's length
 * (at least 1, so one-letter slips in short names count), compared case-insensitively first so `loadcifar` finds
 * `loadCIFAR`. Ties go to the alphabetically first candidate, so the hint is deterministic.
 */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const limit = Math.max(1, Math.floor(name.length / 3));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of [...candidates].sort()) {
    const distance =
      candidate.toLowerCase() === name.toLowerCase() ? 0.5 : editDistance(name.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance && distance <= limit && candidate !== name) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** A hint line for a suggestion, or undefined when there is none. */
export function didYouMeanHint(name: string, candidates: Iterable<string>): string | undefined {
  const guess = didYouMean(name, candidates);
  return guess === undefined ? undefined : `did you mean "${guess}"?`;
}
