/** Numbers in progress info at 4 significant digits (a loss of 0.07142857142857142 reads as 0.07143). */
export function shortNumber(value: number | string): string {
  return typeof value === 'number' && !Number.isInteger(value) ? String(Number(value.toPrecision(4))) : String(value);
}
