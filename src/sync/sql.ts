/**
 * The SQL that differs between DuckDB and BigQuery, in one place, so the planner and the ledger write one query
 * text for both: identifier quoting, literals, type names, hashing and serialising a row, transactions.
 */
import type { Warehouse } from '../warehouse/types';

export interface Dialect {
  kind: Warehouse['kind'];
  /** Quoted column name (`at` is reserved in both). */
  col(name: string): string;
  /** Qualified, quoted table. */
  table(dataset: string, name: string): string;
  /** Qualified, quoted dataset/schema for CREATE SCHEMA. */
  dataset(name: string): string;
  str(value: string): string;
  ts(value: Date): string;
  type: { string: string; int: string; float: string; bool: string; timestamp: string };
  /** JSON text of a whole row, given its table alias. */
  rowJson(alias: string): string;
  /** Lower-case hex MD5 of a text expression. */
  md5(expr: string): string;
  begin: string;
  commit: string;
}

export function dialectFor(warehouse: Warehouse): Dialect {
  const duck = warehouse.kind === 'duckdb';
  const q = duck ? (n: string) => `"${n.replace(/"/g, '""')}"` : (n: string) => `\`${n.replace(/`/g, '')}\``;
  return {
    kind: warehouse.kind,
    col: q,
    table: (dataset, name) => warehouse.table(dataset, name),
    dataset: (name) => {
      // BigQuery datasets live in a project: reuse the adapter's qualification and drop the table part.
      if (duck) return q(name);
      return warehouse.table(name, '__x').replace(/\.`__x`$/, '');
    },
    str: (value) => `'${value.replace(/\\/g, duck ? '\\' : '\\\\').replace(/'/g, duck ? "''" : "\\'")}'`,
    ts: (value) => `TIMESTAMP '${value.toISOString().replace('T', ' ').replace('Z', '')}'`,
    type: duck
      ? { string: 'VARCHAR', int: 'BIGINT', float: 'DOUBLE', bool: 'BOOLEAN', timestamp: 'TIMESTAMP' }
      : { string: 'STRING', int: 'INT64', float: 'FLOAT64', bool: 'BOOL', timestamp: 'TIMESTAMP' },
    rowJson: (alias) => (duck ? `CAST(to_json(${alias}) AS VARCHAR)` : `TO_JSON_STRING(${alias})`),
    md5: (expr) => (duck ? `md5(${expr})` : `TO_HEX(MD5(${expr}))`),
    begin: duck ? 'BEGIN TRANSACTION' : 'BEGIN TRANSACTION',
    commit: duck ? 'COMMIT' : 'COMMIT TRANSACTION',
  };
}
