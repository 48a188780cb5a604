/**
 * The options the comparison commands (`results`, `runs`, `diff`) share: `--format md|csv|json`, `--where` and
 * `--sort`, parsed once here so the three read and report them alike.
 */
import type {Result} from '../result.js';
import {fail, ok} from '../result.js';
import type {SortKey, Table, WhereClause} from '../table.js';
import {filterAndSort, parseSort, parseWhere} from '../table.js';

/** An output format. */
export type TableFormat = 'md' | 'csv' | 'json';

/** The parseArgs options to spread into a command's own. */
export const TABLE_OPTIONS = {
  format: {type: 'string'},
  where: {type: 'string', multiple: true},
  sort: {type: 'string', multiple: true},
} as const;

/** Help lines for the shared options. */
export const TABLE_HELP = `  --format md|csv|json output format (default md)
  --where COL=VALUE    keep rows whose column COL equals VALUE (repeatable, all must hold); also !=, <, <=, >, >=
                       (numbers compare as numbers), e.g. --where alpha=0.3 --where 'accuracy>=70'
  --sort COL[:desc]    order rows by a column, ascending unless :desc (repeatable or comma-separated for ties);
                       empty cells go last`;

/** The parsed shared options. */
export interface TableOptions {
  readonly format: TableFormat;
  readonly where: readonly WhereClause[];
  readonly sort: readonly SortKey[];
}

/** Parses the shared options from parseArgs' values. */
export function readTableOptions(values: {format?: string; where?: string[]; sort?: string[]}): Result<TableOptions, string> {
  const format = values.format ?? 'md';
  if (format !== 'md' && format !== 'csv' && format !== 'json') return fail(`--format must be md, csv or json, got '${format}'`);
  const where = parseWhere(values.where ?? []);
  if (!where.ok) return where;
  const sort = parseSort(values.sort ?? []);
  if (!sort.ok) return sort;
  return ok({format, where: where.value, sort: sort.value});
}

/** Applies `--where` and `--sort` to a table. */
export function applyTableOptions(table: Table, options: TableOptions): Result<Table, string> {
  return filterAndSort(table, options.where, options.sort);
}
