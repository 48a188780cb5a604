/**
 * The tables the comparison commands print (`results`, `runs`, `diff`): named columns, rows of cells, filtered with
 * `--where`, ordered with `--sort`, and rendered as Markdown or CSV (JSON output is each command's own structured
 * form). One implementation, so the three commands filter, sort and format alike.
 */
import {didYouMeanHint} from './did-you-mean.js';
import type {Result} from './result.js';
import {fail, ok} from './result.js';
import {unreachable} from './unreachable.js';

/** A cell: text, a number, or empty. */
export type Cell = string | number | undefined;

/** A table: the column order, and rows keyed by column name. */
export interface Table {
  readonly columns: readonly string[];
  readonly rows: readonly Readonly<Record<string, Cell>>[];
}

/** A comparison of `--where`. */
export type WhereOp = '=' | '!=' | '<' | '<=' | '>' | '>=';

/** One parsed `--where COLUMN<op>VALUE`. */
export interface WhereClause {
  readonly column: string;
  readonly op: WhereOp;
  readonly value: string;
}

/** One parsed `--sort COLUMN[:asc|:desc]`. */
export interface SortKey {
  readonly column: string;
  readonly descending: boolean;
}

const WHERE = /^\s*([^=!<>]+?)\s*(!=|<=|>=|=|<|>)\s*(.*?)\s*$/;

/** Parses `--where` texts such as `alpha=0.3`, `accuracy>=70`, `status!=done`. */
export function parseWhere(texts: readonly string[]): Result<WhereClause[], string> {
  const clauses: WhereClause[] = [];
  for (const text of texts) {
    const match = WHERE.exec(text);
    if (match === null) return fail(`--where '${text}' is not COLUMN=VALUE (or !=, <, <=, >, >=), e.g. --where alpha=0.3`);
    clauses.push({column: match[1] ?? '', op: (match[2] ?? '=') as WhereOp, value: match[3] ?? ''});
  }
  return ok(clauses);
}

/** Parses `--sort` texts such as `accuracy`, `accuracy:desc`, `alpha:asc`. */
export function parseSort(texts: readonly string[]): Result<SortKey[], string> {
  const keys: SortKey[] = [];
  for (const text of texts.flatMap((t) => t.split(','))) {
    const match = /^\s*([^:]+?)\s*(?::\s*(asc|desc))?\s*$/.exec(text);
    if (match === null) return fail(`--sort '${text}' is not COLUMN or COLUMN:desc, e.g. --sort accuracy:desc`);
    keys.push({column: match[1] ?? '', descending: match[2] === 'desc'});
  }
  return ok(keys);
}

function unknownColumn(column: string, table: Table, option: string): string {
  const hint = didYouMeanHint(column, table.columns);
  return `${option}: no column '${column}'${hint === undefined ? '' : ` (${hint})`}; the columns are: ${table.columns.join(', ')}`;
}

/** A cell as a number when it is one or reads as one (`0.3`, `1e-5`); undefined otherwise. */
function numeric(cell: Cell): number | undefined {
  if (typeof cell === 'number') return cell;
  if (cell === undefined || cell.trim() === '') return undefined;
  const n = Number(cell);
  return Number.isFinite(n) ? n : undefined;
}

/** -1, 0 or 1; numbers compare as numbers, everything else as text. Empty cells are handled by the callers. */
function compare(a: Cell, b: Cell): number {
  const x = numeric(a);
  const y = numeric(b);
  if (x !== undefined && y !== undefined) return x < y ? -1 : x > y ? 1 : 0;
  const s = String(a ?? '');
  const t = String(b ?? '');
  return s < t ? -1 : s > t ? 1 : 0;
}

function matches(cell: Cell, clause: WhereClause): boolean {
  if (cell === undefined || cell === '') return clause.op === '!=' ? clause.value !== '' : clause.op === '=' && clause.value === '';
  const order = compare(cell, clause.value);
  switch (clause.op) {
    case '=':
      return order === 0;
    case '!=':
      return order !== 0;
    case '<':
      return order < 0;
    case '<=':
      return order <= 0;
    case '>':
      return order > 0;
    case '>=':
      return order >= 0;
    default:
      return unreachable(clause.op);
  }
}

/**
 * The rows that satisfy every clause, ordered by the sort keys (stable: ties keep their order; empty cells last
 * whatever the direction), or the message for a column the table does not have.
 */
export function filterAndSort(table: Table, where: readonly WhereClause[], sort: readonly SortKey[]): Result<Table, string> {
  for (const clause of where) if (!table.columns.includes(clause.column)) return fail(unknownColumn(clause.column, table, '--where'));
  for (const key of sort) if (!table.columns.includes(key.column)) return fail(unknownColumn(key.column, table, '--sort'));
  const rows = table.rows.filter((row) => where.every((clause) => matches(row[clause.column], clause)));
  const indexed = rows.map((row, i) => ({row, i}));
  indexed.sort((a, b) => {
    for (const key of sort) {
      const x = a.row[key.column];
      const y = b.row[key.column];
      const xEmpty = x === undefined || x === '';
      const yEmpty = y === undefined || y === '';
      if (xEmpty || yEmpty) {
        if (xEmpty !== yEmpty) return xEmpty ? 1 : -1;
        continue;
      }
      const order = compare(x, y);
      if (order !== 0) return key.descending ? -order : order;
    }
    return a.i - b.i;
  });
  return ok({columns: table.columns, rows: indexed.map((e) => e.row)});
}

/** The table without the columns (other than `keep`) that are empty in every row: metrics only filtered-out rows had. */
export function dropEmptyColumns(table: Table, keep: readonly string[]): Table {
  const columns = table.columns.filter((c) => keep.includes(c) || table.rows.some((r) => r[c] !== undefined && r[c] !== ''));
  return {columns, rows: table.rows};
}

/** A cell as printed: numbers with at most 6 significant digits, empty cells empty. */
export function showCell(cell: Cell): string {
  if (cell === undefined) return '';
  if (typeof cell === 'number') return Number.isInteger(cell) ? String(cell) : String(Number(cell.toPrecision(6)));
  return cell;
}

function csvCell(text: string): string {
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** The table as Markdown or CSV text (one line per row, a trailing newline). */
export function renderTable(table: Table, format: 'md' | 'csv'): string {
  const body = table.rows.map((row) => table.columns.map((c) => showCell(row[c])));
  switch (format) {
    case 'csv':
      return [table.columns, ...body].map((line) => line.map(csvCell).join(',')).join('\n') + '\n';
    case 'md': {
      const esc = (t: string): string => t.replace(/\|/g, '\\|').replace(/\n/g, ' ');
      return [
        `| ${table.columns.map(esc).join(' | ')} |`,
        `|${table.columns.map(() => ' --- ').join('|')}|`,
        ...body.map((line) => `| ${line.map(esc).join(' | ')} |`),
      ].join('\n') + '\n';
    }
    default:
      return unreachable(format);
  }
}
