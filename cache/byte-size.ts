/** Human sizes for `--max-size` and `cache ls`. */

const UNITS: Readonly<Record<string, number>> = {'': 1, B: 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4};

/** Parses `10G`, `500M`, `1.5T`, `2048` (bytes; binary units, an optional trailing `B`/`iB`); undefined when malformed. */
export function parseByteSize(text: string): number | undefined {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?\s*$/i.exec(text);
  if (match === null) return undefined;
  const unit = UNITS[(match[2] ?? '').toUpperCase()];
  if (unit === undefined) return undefined;
  return Math.floor(Number(match[1]) * unit);
}

/** Formats a byte count compactly (`1.2G`, `340K`, `17B`). */
export function formatByteSize(bytes: number): string {
  for (const unit of ['T', 'G', 'M', 'K'] as const) {
    const size = UNITS[unit] ?? 1;
    if (bytes >= size) return `${(bytes / size).toFixed(bytes / size < 10 ? 1 : 0)}${unit}`;
  }
  return `${bytes}B`;
}
