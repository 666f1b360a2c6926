/**
 * Local warehouse on DuckDB. Owns how the CLI, the sync engine and the local stack see the data dir:
 * an in-memory DuckDB instance with `raw.events` / `raw.events_invalid` as views over the lander's immutable
 * Parquet files, and the warehouse file (marts written by dbt, `_tagpipe` state written by syncs) attached.
 *
 * DuckDB lets one process hold a database file for writing, and a writer excludes readers in other processes. dbt
 * runs as its own process, so attaching retries with backoff while the file is locked and, after a timeout, says
 * that the models are running. The file is attached READ_ONLY for queries and read-write for sync runs, and held
 * only until `close()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import {
  DuckDBConnection,
  DuckDBInstance,
  DuckDBTimestampValue,
  DuckDBTypeId,
  JsonDuckDBValueConverter,
  type DuckDBValue,
  type DuckDBValueConverter,
  type DuckDBType,
  type Json,
} from '@duckdb/node-api';
import { ConfigError, UnavailableError } from '../core/errors';
import { localPaths, type QueryParams, type RawTable, type Warehouse } from './types';

/** DuckDB budget of a read-write open (a sync run) unless the caller sets one. */
export const SYNC_MEMORY_LIMIT = '64MB';
export const SYNC_THREADS = 1;
/**
 * DuckDB budget while a sync sends: it only reads the plan a page at a time and appends ledger rows, so the plan
 * table's blocks it would otherwise keep cached at the full budget are evicted (read again from the OS page cache)
 * and the JavaScript heap has the room during the send.
 */
export const SYNC_SEND_MEMORY_LIMIT = '24MB';

/** Catalog name the warehouse file is attached under; `USE` makes `marts.x` and `_tagpipe.x` resolve to it. */
export const WAREHOUSE_CATALOG = 'warehouse';

export interface LocalWarehouseOptions {
  /** Attach the warehouse file READ_ONLY (queries) or read-write (sync runs). */
  readOnly: boolean;
  /** How long to keep retrying while another process holds the file; default 30 s. */
  lockTimeoutMs?: number;
  /** Create the data dir and warehouse file when missing (read-write only); default true. */
  create?: boolean;
  /** DuckDB memory_limit, e.g. '512MB'; default SYNC_MEMORY_LIMIT read-write, DuckDB's own (80% of RAM) read-only. */
  memoryLimit?: string;
  /** DuckDB threads; default SYNC_THREADS read-write, DuckDB's own (one per core) read-only. */
  threads?: number;
  /**
   * WAL size that triggers a checkpoint (DuckDB's checkpoint_threshold, default 16 MB). Read-write opens default
   * to 256 MB: a sync appends two ledger rows per record in small commits, and checkpointing every 16 MB rewrote
   * the ledger's open row group over and over (twice the insert time at 1M records). Commits stay durable in the
   * WAL; the file is checkpointed when it closes.
   */
  checkpointThreshold?: string;
  /**
   * Freed memory the allocator may keep before returning it to the OS (DuckDB's allocator_flush_threshold and
   * allocator_bulk_deallocation_flush_threshold, 128 MB and 512 MB by default). Read-write opens default to
   * 16 MB: what a sync's plan and snapshot statements freed otherwise stayed in the process, outside
   * memory_limit's accounting.
   */
  allocatorFlushThreshold?: string;
}

/** Column type for `insertRows`, the bulk path the ledger and snapshots use. */
export type ColumnType = 'string' | 'int' | 'float' | 'bool' | 'timestamp';
export interface ColumnSpec {
  name: string;
  type: ColumnType;
}

/** A warehouse the sync engine can also bulk-insert into (both adapters implement it). */
export interface SyncWarehouse extends Warehouse {
  insertRows(dataset: string, table: string, columns: ColumnSpec[], rows: unknown[][]): Promise<void>;
}

const RAW_EMPTY_SELECT =
  'SELECT CAST(NULL AS VARCHAR) AS subscription_name, CAST(NULL AS VARCHAR) AS message_id, ' +
  'CAST(NULL AS TIMESTAMP) AS publish_time, CAST(NULL AS VARCHAR) AS data, CAST(NULL AS VARCHAR) AS attributes WHERE false';

/** True when the DuckDB error is the cross-process file lock (another process is writing the file). */
export function isLockError(error: unknown): boolean {
  const message = error instanceof Error ? error.message : String(error);
  return /Could not set lock on file|Conflicting lock is held/i.test(message);
}

/** Quotes an identifier the SQL standard way (both DuckDB and BigQuery's backticks are handled per adapter). */
export function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function sqlString(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}

/**
 * Rewrites BigQuery-style `@name` parameters to DuckDB's `$name`, outside string literals, quoted identifiers and
 * comments, so callers write one SQL text for both warehouses.
 */
export function toDuckDbParams(sql: string): string {
  let out = '';
  let i = 0;
  while (i < sql.length) {
    const ch = sql[i];
    if (ch === "'" || ch === '"') {
      const end = findClosingQuote(sql, i, ch);
      out += sql.slice(i, end);
      i = end;
    } else if (ch === '-' && sql[i + 1] === '-') {
      const end = sql.indexOf('\n', i);
      const stop = end === -1 ? sql.length : end;
      out += sql.slice(i, stop);
      i = stop;
    } else if (ch === '@' && /[A-Za-z_]/.test(sql[i + 1] ?? '') && !/[A-Za-z0-9_]/.test(sql[i - 1] ?? '')) {
      out += '$';
      i++;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

function findClosingQuote(sql: string, start: number, quote: string): number {
  let i = start + 1;
  while (i < sql.length) {
    if (sql[i] === quote) {
      if (sql[i + 1] === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return sql.length;
}

const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);
const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);

function microsToIso(micros: bigint): string {
  const ms = Number(micros / 1000n);
  const date = new Date(ms);
  if (Number.isNaN(date.getTime())) return String(micros);
  return date.toISOString();
}

/**
 * JSON-safe values: integers as numbers while exact, else strings; timestamps as ISO-8601 UTC; dates as
 * YYYY-MM-DD; DECIMAL as numbers (money columns are DOUBLE or DECIMAL(18,2) in the marts); the rest as DuckDB's
 * own JSON conversion.
 */
export const jsonSafeConverter: DuckDBValueConverter<Json> = (value, type, converter) => {
  if (value === null) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.UBIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UHUGEINT: {
      const big = value as bigint;
      return big <= MAX_SAFE && big >= MIN_SAFE ? Number(big) : big.toString();
    }
    case DuckDBTypeId.DECIMAL:
      return Number(String(value));
    case DuckDBTypeId.TIMESTAMP:
    case DuckDBTypeId.TIMESTAMP_TZ:
      return microsToIso((value as DuckDBTimestampValue).micros);
    case DuckDBTypeId.TIMESTAMP_MS:
      return microsToIso((value as unknown as { millis: bigint }).millis * 1000n);
    case DuckDBTypeId.TIMESTAMP_S:
      return microsToIso((value as unknown as { seconds: bigint }).seconds * 1_000_000n);
    case DuckDBTypeId.TIMESTAMP_NS:
      return microsToIso((value as unknown as { nanos: bigint }).nanos / 1000n);
    default:
      return JsonDuckDBValueConverter(value, type, converter);
  }
};

function toDuckParams(params: QueryParams | undefined): Record<string, DuckDBValue> | undefined {
  if (!params || Object.keys(params).length === 0) return undefined;
  return params as Record<string, DuckDBValue>;
}

function hasParquet(dir: string): boolean {
  if (!fs.existsSync(dir)) return false;
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop() as string;
    for (const entry of fs.readdirSync(current, { withFileTypes: true })) {
      if (entry.isDirectory()) stack.push(`${current}/${entry.name}`);
      else if (entry.name.endsWith('.parquet')) return true;
    }
  }
  return false;
}

export class DuckDbWarehouse implements SyncWarehouse {
  readonly kind = 'duckdb' as const;
  private closed = false;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly instance: DuckDBInstance,
    private readonly connection: DuckDBConnection,
    readonly dataDir: string,
    readonly readOnly: boolean,
    readonly attached: boolean,
    /** `USE` and `search_path` are per connection: stream connections replay them. */
    private readonly sessionSql: string,
    private readonly releaseFile: (() => void) | null = null,
  ) {}

  /** One statement at a time on the shared connection: DuckDB connections are not re-entrant. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    return this.serial(async () => {
      const reader = await this.connection.runAndReadAll(toDuckDbParams(sql), toDuckParams(params));
      return reader.convertRowObjects(jsonSafeConverter) as T[];
    });
  }

  /** Column names of a result, in order (for the CLI's table output). */
  async queryWithColumns(
    sql: string,
    params?: QueryParams,
  ): Promise<{ columns: string[]; rows: Record<string, unknown>[] }> {
    return this.serial(async () => {
      const reader = await this.connection.runAndReadAll(toDuckDbParams(sql), toDuckParams(params));
      return { columns: reader.deduplicatedColumnNames(), rows: reader.convertRowObjects(jsonSafeConverter) };
    });
  }

  async *stream<T = Record<string, unknown>>(sql: string, params?: QueryParams, pageSize = 1000): AsyncIterable<T[]> {
    // A streaming result is invalidated by the next statement on its connection, so it gets its own; DuckDB
    // produces chunks of 2048 rows on demand, so memory stays at about one page plus one chunk.
    const connection = await this.instance.connect();
    try {
      await connection.run(this.sessionSql);
      const result = await connection.stream(toDuckDbParams(sql), toDuckParams(params));
      let page: T[] = [];
      for await (const rows of result.yieldConvertedRowObjects(jsonSafeConverter)) {
        for (const row of rows) {
          page.push(row as T);
          if (page.length >= pageSize) {
            yield page;
            page = [];
          }
        }
      }
      if (page.length) yield page;
    } finally {
      connection.closeSync();
    }
  }

  async exec(sql: string, params?: QueryParams): Promise<void> {
    await this.serial(async () => {
      await this.connection.run(toDuckDbParams(sql), toDuckParams(params));
    });
  }

  table(dataset: string, name: string): string {
    return `${quoteIdent(dataset)}.${quoteIdent(name)}`;
  }

  /**
   * Bulk insert: each column travels as one JSON list parameter that DuckDB parses and unnests natively (columns
   * holding one value for every row travel as a single scalar). One statement per call: about 7 µs per row,
   * where the row-by-row appender costs 25 µs from JavaScript.
   */
  async insertRows(dataset: string, table: string, columns: ColumnSpec[], rows: unknown[][]): Promise<void> {
    if (rows.length === 0) return;
    const params: Record<string, DuckDBValue> = {};
    let lists = 0;
    const selects = columns.map((column, j) => {
      const type = DUCK_TYPES[column.type];
      const values = rows.map((row) => toParam(column.type, row[j]));
      const first = values[0];
      if (values.every((v) => v === first)) {
        if (first === null) return `CAST(NULL AS ${type})`;
        params[`c${j}`] = first;
        return `CAST($c${j} AS ${type})`;
      }
      lists++;
      params[`c${j}`] = JSON.stringify(values);
      return `unnest(from_json($c${j}, '["${type}"]'))`;
    });
    const names = columns.map((c) => quoteIdent(c.name)).join(', ');
    const from = lists === 0 ? ` FROM range(${rows.length})` : '';
    await this.exec(
      `INSERT INTO ${this.table(dataset, table)} (${names}) SELECT ${selects.join(', ')}${from}`,
      params as QueryParams,
    );
  }

  private aside: { connection: Promise<DuckDBConnection>; queue: Promise<unknown> } | null = null;

  /**
   * A read on a second connection with its own queue, so it runs while statements wait or commit on the main
   * one: the executor reads the plan's next page while the ledger commits (a commit mostly waits for the disk).
   * Each call is its own short read, never a transaction held open.
   */
  async queryAside<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    if (!this.aside) {
      const connection = this.instance.connect().then(async (c) => {
        await c.run(this.sessionSql);
        return c;
      });
      this.aside = { connection, queue: Promise.resolve() };
    }
    const aside = this.aside;
    const run = async () => {
      const reader = await (await aside.connection).runAndReadAll(toDuckDbParams(sql), toDuckParams(params));
      return reader.convertRowObjects(jsonSafeConverter) as T[];
    };
    const next = aside.queue.then(run, run);
    aside.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs `fn` with DuckDB's memory_limit set to `limit`, then restores the limit it had. When
   * DuckDB cannot free enough at once, `fn` runs at the old limit.
   */
  async withMemoryLimit<T>(limit: string, fn: () => Promise<T>): Promise<T> {
    // current_setting reads e.g. '61.0 MiB', which SET accepts back.
    const [row] = await this.query<{ limit: string }>(`SELECT current_setting('memory_limit') AS "limit"`);
    const previous = row?.limit;
    let lowered = false;
    if (previous) {
      try {
        await this.exec(`SET memory_limit = '${limit.replace(/'/g, '')}'`);
        lowered = true;
      } catch {
        // a limit DuckDB refuses leaves the current one in place
      }
    }
    try {
      return await fn();
    } finally {
      if (lowered && previous) await this.exec(`SET memory_limit = '${previous.replace(/'/g, '')}'`);
    }
  }

  private memoryConnection: DuckDBConnection | null = null;

  /**
   * DuckDB's own memory accounting (`duckdb_memory()`: buffer-managed memory and what spilled to temp files), read
   * on a connection of its own so the sample does not wait behind the statements of a run.
   */
  async memory(): Promise<{ usedBytes: number; temporaryBytes: number }> {
    this.memoryConnection ??= await this.instance.connect();
    const reader = await this.memoryConnection.runAndReadAll(
      'SELECT sum(memory_usage_bytes)::BIGINT AS used, sum(temporary_storage_bytes)::BIGINT AS temp FROM duckdb_memory()',
    );
    const [used, temp] = reader.getRows()[0] as [bigint, bigint];
    return { usedBytes: Number(used), temporaryBytes: Number(temp) };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    if (this.attached) {
      try {
        // Detach so the file lock is released now, not when the instance is garbage-collected.
        await this.connection.run(`USE memory; DETACH ${WAREHOUSE_CATALOG}`);
      } catch {
        /* closing anyway */
      }
    }
    this.memoryConnection?.closeSync();
    if (this.aside) {
      await this.aside.queue;
      (await this.aside.connection).closeSync();
    }
    this.connection.closeSync();
    this.instance.closeSync();
    this.releaseFile?.();
  }
}

const DUCK_TYPES: Record<ColumnType, string> = {
  string: 'VARCHAR',
  int: 'BIGINT',
  float: 'DOUBLE',
  bool: 'BOOLEAN',
  timestamp: 'TIMESTAMP',
};

/** A value as a JSON/parameter scalar for `insertRows` (timestamps as ISO text, which DuckDB casts). */
function toParam(type: ColumnType, value: unknown): string | number | boolean | null {
  if (value === null || value === undefined) return null;
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : JSON.stringify(value);
    case 'int':
      return Math.trunc(Number(value));
    case 'float':
      return Number(value);
    case 'bool':
      return Boolean(value);
    case 'timestamp':
      return (value instanceof Date ? value : new Date(String(value))).toISOString();
  }
}

/**
 * In-process guard for the warehouse file. DuckDB's file lock is an OS lock owned by the process, so two
 * instances in one process (the local stack running a sync while the stream handler records a send) would both
 * get it and write the file at once. Writers are exclusive, readers shared, waiting in arrival order.
 */
interface FileGate {
  readers: number;
  writer: boolean;
  queue: { write: boolean; grant: () => void }[];
}
const fileGates = new Map<string, FileGate>();

function pump(gate: FileGate): void {
  while (gate.queue.length) {
    const next = gate.queue[0];
    if (next.write ? gate.writer || gate.readers > 0 : gate.writer) return;
    gate.queue.shift();
    if (next.write) gate.writer = true;
    else gate.readers++;
    next.grant();
  }
}

async function acquireFile(file: string, write: boolean, timeoutMs: number): Promise<() => void> {
  let gate = fileGates.get(file);
  if (!gate) {
    gate = { readers: 0, writer: false, queue: [] };
    fileGates.set(file, gate);
  }
  const g = gate;
  const entry = { write, grant: () => undefined as void };
  const granted = new Promise<void>((resolve) => (entry.grant = resolve));
  g.queue.push(entry);
  pump(g);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeoutMs)));
  const result = await Promise.race([granted.then(() => 'ok' as const), timeout]);
  clearTimeout(timer);
  if (result === 'timeout') {
    const index = g.queue.indexOf(entry);
    if (index >= 0) g.queue.splice(index, 1);
    else release();
    throw new UnavailableError(
      `the warehouse file ${file} is in use by a sync or model run in this process; waited ${Math.round(timeoutMs / 1000)} s`,
    );
  }
  let released = false;
  function release(): void {
    if (released) return;
    released = true;
    if (write) g.writer = false;
    else g.readers--;
    pump(g);
  }
  return release;
}

async function attachWithRetry(
  connection: DuckDBConnection,
  file: string,
  options: LocalWarehouseOptions,
): Promise<void> {
  const timeoutMs = options.lockTimeoutMs ?? 30_000;
  const started = Date.now();
  let delay = 50;
  const mode = options.readOnly ? ' (READ_ONLY)' : '';
  for (;;) {
    try {
      await connection.run(`ATTACH ${sqlString(file)} AS ${WAREHOUSE_CATALOG}${mode}`);
      return;
    } catch (error) {
      if (!isLockError(error)) throw error;
      const waited = Date.now() - started;
      if (waited >= timeoutMs) {
        throw new UnavailableError(
          `the warehouse file ${file} is locked by another process (the models are probably running: dbt holds ` +
            `the file while it builds them); waited ${Math.round(waited / 1000)} s, try again when they finish`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, timeoutMs - waited)));
      // Capped exponential backoff with jitter: dbt runs take seconds, a reader should notice the release quickly.
      delay = Math.min(1000, delay * 2) * (0.75 + Math.random() * 0.5);
    }
  }
}

/**
 * The catalog holding the raw views: an in-memory catalog of their own named `raw`, so `raw.events` resolves
 * whether or not the warehouse file is attached. DuckDB looks a two-part name up as a schema of the current
 * catalog first (the warehouse file, which has none called raw), then as a catalog, never as a schema of another
 * catalog on the search path.
 */
const RAW_CATALOG = 'raw';

async function createRawViews(connection: DuckDBConnection, dataDir: string): Promise<void> {
  const paths = localPaths(dataDir);
  await connection.run(`ATTACH IF NOT EXISTS ':memory:' AS ${RAW_CATALOG}`);
  for (const table of ['events', 'events_invalid'] as RawTable[]) {
    const select = hasParquet(paths.rawTable(table))
      ? // hive_partitioning off: the date=... folders must not add a column to the raw table contract.
        `SELECT subscription_name, message_id, publish_time, data, attributes FROM read_parquet(${sqlString(
          paths.rawGlob(table),
        )}, union_by_name = true, hive_partitioning = false)`
      : RAW_EMPTY_SELECT;
    await connection.run(`CREATE OR REPLACE VIEW ${RAW_CATALOG}.main.${table} AS ${select}`);
  }
}

/**
 * Opens the local warehouse: raw views over Parquet plus the warehouse file attached, with `marts.<table>`,
 * `_tagpipe.<table>` and `raw.<table>` resolving as written.
 */
export async function openLocalWarehouse(dataDir: string, options: LocalWarehouseOptions): Promise<DuckDbWarehouse> {
  const paths = localPaths(dataDir);
  const instance = await DuckDBInstance.create(':memory:', {
    // Read-write opens are sync runs: a bounded budget by default (they spill to temp files beyond it), and one
    // thread, leaving the other core to the JavaScript that parses and sends while DuckDB reads and commits.
    ...(options.memoryLimit || !options.readOnly ? { memory_limit: options.memoryLimit ?? SYNC_MEMORY_LIMIT } : {}),
    // Large sorts and joins spill here instead of failing at the memory limit.
    temp_directory: path.join(paths.root, 'tmp'),
    ...(options.threads || !options.readOnly ? { threads: String(options.threads ?? SYNC_THREADS) } : {}),
    ...(options.readOnly
      ? {}
      : {
          checkpoint_threshold: options.checkpointThreshold ?? '256MB',
          // A sync orders what it needs explicitly (the plan table is created with ORDER BY); elsewhere keeping
          // insertion order only makes DuckDB buffer results.
          preserve_insertion_order: 'false',
          allocator_flush_threshold: options.allocatorFlushThreshold ?? '16MB',
          allocator_bulk_deallocation_flush_threshold: options.allocatorFlushThreshold ?? '16MB',
          // Returns freed memory to the OS in the background, not only when a later task ends.
          allocator_background_threads: 'true',
        }),
  });
  const connection = await instance.connect();
  let releaseFile: (() => void) | null = null;
  try {
    await createRawViews(connection, dataDir);
    let attached = false;
    const exists = fs.existsSync(paths.warehouse);
    if (!exists && !options.readOnly && options.create !== false) fs.mkdirSync(paths.root, { recursive: true });
    if (exists || (!options.readOnly && options.create !== false)) {
      const started = Date.now();
      const timeoutMs = options.lockTimeoutMs ?? 30_000;
      releaseFile = await acquireFile(paths.warehouse, !options.readOnly, timeoutMs);
      await attachWithRetry(connection, paths.warehouse, {
        ...options,
        lockTimeoutMs: Math.max(0, timeoutMs - (Date.now() - started)),
      });
      attached = true;
    } else if (!options.readOnly) {
      throw new ConfigError(`the warehouse file ${paths.warehouse} does not exist`);
    }
    // marts.<table> and _tagpipe.<table> are schemas of the file (the current catalog); raw.<table> is the raw
    // catalog's main schema.
    const searchPath = attached ? `${WAREHOUSE_CATALOG}.main,memory.main` : 'memory.main';
    const sessionSql = `${attached ? `USE ${WAREHOUSE_CATALOG}; ` : ''}SET search_path = ${sqlString(searchPath)}`;
    await connection.run(sessionSql);
    return new DuckDbWarehouse(instance, connection, dataDir, options.readOnly, attached, sessionSql, releaseFile);
  } catch (error) {
    releaseFile?.();
    connection.closeSync();
    instance.closeSync();
    throw error;
  }
}

/** Re-exported for callers that only need to know the column type of a result. */
export type { DuckDBType };
