/** A text (a pipeline file or the command line) that turns character offsets into located diagnostics. */
import type {DiagnosticLocation} from './diagnostic.js';

/** A named text with its line starts, so any offset range becomes a `file:line:col` location with its line's text. */
export class SourceText {
  readonly display: string;
  readonly text: string;
  readonly #lineStarts: number[];

  constructor(display: string, text: string) {
    this.display = display;
    this.text = text;
    this.#lineStarts = [0];
    for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) this.#lineStarts.push(i + 1);
  }

  /** The location of `[start, end)`. The underline stops at the end of the first line of the range. */
  location(start: number, end = start + 1): DiagnosticLocation {
    const offset = Math.max(0, Math.min(start, this.text.length));
    let low = 0;
    let high = this.#lineStarts.length - 1;
    while (low < high) {
      const mid = (low + high + 1) >> 1;
      if ((this.#lineStarts[mid] ?? 0) <= offset) low = mid;
      else high = mid - 1;
    }
    const lineStart = this.#lineStarts[low] ?? 0;
    const next = this.#lineStarts[low + 1];
    const lineEnd = next === undefined ? this.text.length : next - 1;
    const lineText = this.text.slice(lineStart, lineEnd).replace(/\r$/, '');
    const length = Math.max(1, Math.min(end, lineStart + lineText.length) - offset);
    return {file: this.display, line: low + 1, col: offset - lineStart + 1, length, lineText};
  }
}
