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
  /** Integer division. */
  intDiv(a: string, b: string): string;
  /** A SELECT of `table` (aliased) with one row per bucket in [from, to], the bucket in column `name`. */
  expandBuckets(table: string, alias: string, from: string, to: string, name: string): string;
  /** A member of JSON text as text (booleans as 'true' / 'false'), NULL when absent. */
  jsonText(json: string, member: string): string;
  /** True when JSON text has the member (even when its value is null). */
  jsonHas(json: string, member: string): string;
  /** Texts joined with a separator, NULLs left out (with their separator). */
  joinNonNull(parts: string[], separator: string): string;
  /** A plan row's position: DuckDB's rowid (the plan is created sorted, never changed), a column on BigQuery. */
  planPosition: string;
}

/** A JSONPath to a top-level member, quoted when the name is not a plain identifier. */
function memberPath(member: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(member) ? `$.${member}` : `$."${member.replace(/["'\\]/g, '')}"`;
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
    intDiv: (a, b) => (duck ? `(${a} // ${b})` : `DIV(${a}, ${b})`),
    expandBuckets: (table, alias, from, to, name) =>
      duck
        ? `SELECT ${alias}.*, unnest(range(${from}, ${to} + 1)) AS ${name} FROM ${table} ${alias}`
        : `SELECT ${alias}.*, ${name} FROM ${table} ${alias} CROSS JOIN UNNEST(GENERATE_ARRAY(${from}, ${to})) AS ${name}`,
    jsonText: (json, member) =>
      duck ? `json_extract_string(${json}, '${memberPath(member)}')` : `JSON_VALUE(${json}, '${memberPath(member)}')`,
    jsonHas: (json, member) =>
      duck
        ? `json_exists(${json}, '${memberPath(member)}')`
        : `(JSON_QUERY(${json}, '${memberPath(member)}') IS NOT NULL)`,
    joinNonNull: (parts, separator) =>
      duck
        ? `concat_ws('${separator}', ${parts.join(', ')})`
        : `ARRAY_TO_STRING([${parts.join(', ')}], '${separator}')`,
    planPosition: duck ? 'rowid' : '_tp_pos',
  };
}

/**
 * Runs `fn` with DuckDB writing uncompressed column segments; a no-op on BigQuery. For the statements that write
 * every planned payload (the plan table, the snapshot): choosing a string compression buffers row groups outside
 * DuckDB's memory_limit (a 400,000-row plan: +245 MB of process memory compressed, +150 MB uncompressed, at a
 * 128 MB limit) and took 2.5 times as long. The cost is disk: payloads are stored as written.
 */
export async function writingUncompressed<T>(wh: Pick<Warehouse, 'kind' | 'exec'>, fn: () => Promise<T>): Promise<T> {
  if (wh.kind !== 'duckdb') return fn();
  await wh.exec(`SET force_compression = 'uncompressed'`);
  try {
    return await fn();
  } finally {
    await wh.exec('RESET force_compression');
  }
}
