/**
 * Warehouse: where raw tables land and where marts, snapshots and the ledger live.
 * Adapters: duckdb.ts (local) and bigquery.ts (production). Both speak the same table contract.
 */
import path from 'node:path';

/** Columns a BigQuery subscription with `write_metadata` writes (contract 3). */
export const RAW_COLUMNS = ['subscription_name', 'message_id', 'publish_time', 'data', 'attributes'] as const;

export interface RawRow {
  subscription_name: string;
  message_id: string;
  /** ISO-8601, UTC. */
  publish_time: string;
  /** JSON text of the canonical event (or invalid record). */
  data: string;
  /** JSON text of the bus attributes. */
  attributes: string;
}

export type RawTable = 'events' | 'events_invalid';

/**
 * Local layout under the data dir. Raw tables are immutable Parquet files written by the lander, so dbt-duckdb
 * (another process) and `tagpipe warehouse query` read them while the stack runs; the DuckDB file holds only
 * what models and syncs write, and is opened for the length of one run.
 */
export function localPaths(dataDir: string) {
  const root = path.resolve(dataDir);
  return {
    root,
    /** Embedded bus segments and reader checkpoints. */
    bus: path.join(root, 'bus'),
    /** raw/<table>/date=YYYY-MM-DD/<file>.parquet */
    raw: path.join(root, 'raw'),
    rawTable: (table: RawTable) => path.join(root, 'raw', table),
    /** Glob dbt and the CLI read a raw table with. */
    rawGlob: (table: RawTable) => path.join(root, 'raw', table, '**', '*.parquet'),
    /** The DuckDB database models and syncs write (marts, _tagpipe). */
    warehouse: path.join(root, 'warehouse.duckdb'),
    /** Dry-run requests per sync: outbox/<sync>.jsonl */
    outbox: path.join(root, 'outbox'),
    /** dbt logs and target dir for the local stack. */
    dbt: path.join(root, 'dbt'),
    pidFile: path.join(root, 'tagpipe.pid'),
  };
}

export type QueryParams = Record<string, string | number | boolean | null>;

export interface Warehouse {
  readonly kind: 'duckdb' | 'bigquery';
  /** Runs SQL and returns rows as plain objects (JSON-safe values: bigint → number or string). */
  query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]>;
  /** Streams rows in pages, so callers hold a bounded number in memory. */
  stream<T = Record<string, unknown>>(sql: string, params?: QueryParams, pageSize?: number): AsyncIterable<T[]>;
  /** Runs a statement (DDL/DML) with no result rows. */
  exec(sql: string, params?: QueryParams): Promise<void>;
  /** Quotes a table reference for this warehouse, e.g. ("_tagpipe", "sync_runs"). */
  table(dataset: string, name: string): string;
  close(): Promise<void>;
}
