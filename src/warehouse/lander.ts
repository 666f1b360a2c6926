/**
 * The local lander: the stand-in for a BigQuery subscription with `write_metadata`. It reads the `events` and
 * `events-invalid` topics (subscriptions `lander-events`, `lander-events-invalid`) and writes immutable Parquet
 * files with exactly the raw table columns (contract 3) under
 * `localPaths(dataDir).rawTable(table)/date=YYYY-MM-DD/` (day of publish_time, UTC).
 *
 * Exactly-once files on top of an at-least-once bus: a file is named after the first and last log position it
 * holds (`<first>-<last>.parquet`, 20-digit). A crash after the rename but before the bus checkpoint makes the
 * bus redeliver; every message whose position lies inside an existing file's range for that day is already
 * landed and is skipped, so no row is written twice. (A day's file holds every message of that day between its
 * first and last position, because the log is immutable and batches are contiguous.) Writes go to a `.tmp`
 * name, are fsynced, renamed in, and the directory fsynced; only then does the handler resolve and the bus
 * advance its checkpoint.
 *
 * Compaction (`compactRaw`) merges a day's small files into one named after the union of their ranges:
 * write tmp, fsync, rename in, then delete the merged inputs. Readers never see a gap: at every instant each
 * row is in at least one visible file (the merged file appears before its inputs disappear). A reader that
 * lists the directory in the instant between the rename and the deletes can see those rows twice, the same
 * at-least-once a BigQuery subscription gives; the staging models deduplicate by message_id/event_id. POSIX
 * has no multi-file atomic swap (and DuckDB's `**` glob does not follow symlinks, which rules out flipping a
 * symlinked day directory). A crash in that instant leaves a file whose range lies inside another's; such
 * files are removed on the next start or compaction.
 *
 * Each table folder also holds `_schema.parquet` (zero rows, the five typed columns) so a glob over an empty
 * table still resolves and has the right types.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { silentLogger, type Logger } from '../core/logger';
import type { DeliveredMessage, EventBus, Subscription, TopicKey } from '../bus/types';
import { fsyncDir, fsyncFile, isErrno } from '../bus/fsutil';
import { localPaths, RAW_COLUMNS, type RawTable } from './types';

export interface LanderOptions {
  bus: EventBus;
  dataDir: string;
  logger?: Logger;
  /** Most messages per Parquet file (per subscription batch). */
  batchSize?: number;
  /** Longest wait for a full batch before writing a partial one, in ms. */
  maxWaitMs?: number;
  /** Compact a day once it holds more than this many files (0 = never automatically). */
  compactAfterFiles?: number;
}

export interface LanderStats {
  /** Rows written, all tables. */
  rows: number;
  /** Parquet files written by landing (not compaction). */
  files: number;
  /** Redelivered messages skipped because they were already in a file. */
  skippedDuplicates: number;
  compactions: number;
  byTable: Record<RawTable, number>;
}

export type LandedCallback = (rows: number, table: RawTable) => void;

export interface Lander {
  stats(): LanderStats;
  /** Called after each batch is durably landed; returns an unsubscribe function. */
  onLanded(callback: LandedCallback): () => void;
  /** Merges a day's files now (same lock as landing). */
  compact(table: RawTable, date: string): Promise<CompactResult>;
  close(): Promise<void>;
}

export interface CompactResult {
  /** Files merged (0 when there was nothing to do). */
  merged: number;
  rows: number;
  file: string | null;
}

const ROUTES: { topic: TopicKey; table: RawTable; subscription: string }[] = [
  { topic: 'events', table: 'events', subscription: 'lander-events' },
  { topic: 'events-invalid', table: 'events_invalid', subscription: 'lander-events-invalid' },
];
const TABLES: RawTable[] = ['events', 'events_invalid'];
/** Compaction stops growing a file past this size (DuckDB reads row groups in parallel; ~100 MB files scan well). */
const DEFAULT_COMPACT_TARGET_BYTES = 128 * 1024 * 1024;
const RANGE_FILE = /^(\d{20})-(\d{20})\.parquet$/;
const COLUMN_TYPES = ['VARCHAR', 'VARCHAR', 'TIMESTAMP WITH TIME ZONE', 'JSON', 'JSON'];
/** Staging table; data and attributes become JSON in LANDING_SELECT. */
const COLUMNS_DDL =
  'subscription_name VARCHAR, message_id VARCHAR, publish_time TIMESTAMP WITH TIME ZONE, data VARCHAR, attributes VARCHAR';

/** Serializes async work (DuckDB connection use, and landing vs compaction of the same table). */
class Mutex {
  private tail: Promise<unknown> = Promise.resolve();
  run<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.tail.then(fn, fn);
    this.tail = next.catch(() => undefined);
    return next;
  }
}

function pad(n: number): string {
  return String(n).padStart(20, '0');
}

function sqlString(s: string): string {
  return `'${s.replace(/'/g, "''")}'`;
}

function utcDay(d: Date): string {
  return d.toISOString().slice(0, 10);
}

function dayDir(dataDir: string, table: RawTable, date: string): string {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new Error(`date must be YYYY-MM-DD, got ${date}`);
  return path.join(localPaths(dataDir).rawTable(table), `date=${date}`);
}

interface RangeFile {
  name: string;
  first: number;
  last: number;
}

async function listRangeFiles(dir: string): Promise<RangeFile[]> {
  let names: string[];
  try {
    names = await fs.readdir(dir);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const out: RangeFile[] = [];
  for (const name of names) {
    const m = RANGE_FILE.exec(name);
    if (m) out.push({ name, first: Number(m[1]), last: Number(m[2]) });
  }
  return out.sort((a, b) => a.first - b.first || b.last - a.last);
}

/**
 * Data and attributes are staged as VARCHAR and cast to JSON on the way out. DuckDB's appender does not validate
 * JSON, and one malformed value (e.g. a lone UTF-16 surrogate escape, which JSON.parse accepts and DuckDB's
 * parser rejects) would make every read of the table fail; such values are stored as a JSON string instead.
 */
const LANDING_SELECT = `SELECT subscription_name, message_id, publish_time,
  CASE WHEN json_valid(data) THEN data::JSON ELSE to_json(data) END AS data,
  CASE WHEN json_valid(attributes) THEN attributes::JSON ELSE to_json(attributes) END AS attributes
  FROM landing`;

async function renameIn(tmp: string, final: string): Promise<void> {
  await fsyncFile(tmp);
  await fs.rename(tmp, final);
  await fsyncDir(path.dirname(final));
}

/** Writes `_schema.parquet` (zero rows, typed columns) into each raw table folder if missing. */
export async function ensureRawSchemaFiles(dataDir: string, conn?: DuckDBConnection): Promise<void> {
  let own: DuckDBInstance | null = null;
  let c = conn;
  try {
    for (const table of TABLES) {
      const dir = localPaths(dataDir).rawTable(table);
      const file = path.join(dir, '_schema.parquet');
      try {
        await fs.access(file);
        continue;
      } catch {
        // missing: write it
      }
      await fs.mkdir(dir, { recursive: true });
      if (!c) {
        own = await DuckDBInstance.create(':memory:');
        c = await own.connect();
      }
      const tmp = `${file}.${process.pid}.tmp`;
      const columns = RAW_COLUMNS.map((col, i) => `CAST(NULL AS ${COLUMN_TYPES[i]}) AS ${col}`).join(', ');
      await c.run(`COPY (SELECT ${columns} WHERE false) TO ${sqlString(tmp)} (FORMAT parquet)`);
      await renameIn(tmp, file);
    }
  } finally {
    if (own) {
      c?.closeSync();
      own.closeSync();
    }
  }
}

/** Removes files whose position range lies inside another file's (left by a crash mid-compaction). */
async function removeContainedFiles(dir: string, logger: Logger): Promise<void> {
  const files = await listRangeFiles(dir);
  let removed = 0;
  for (const f of files) {
    const cover = files.find(
      (o) => o !== f && o.first <= f.first && o.last >= f.last && o.last - o.first > f.last - f.first,
    );
    if (cover) {
      await fs.rm(path.join(dir, f.name), { force: true });
      removed += 1;
    }
  }
  if (removed > 0) {
    await fsyncDir(dir);
    logger.warn({ dir, removed }, 'lander: removed files already merged into a compacted file');
  }
}

/**
 * Merges a day's landed files into one (see the module header for why readers see no gap). Safe to run from
 * another process while a lander writes: it only deletes the files it merged.
 */
export async function compactRaw(
  dataDir: string,
  table: RawTable,
  date: string,
  options: { logger?: Logger; conn?: DuckDBConnection; targetBytes?: number } = {},
): Promise<CompactResult> {
  const logger = options.logger ?? silentLogger;
  const targetBytes = options.targetBytes ?? DEFAULT_COMPACT_TARGET_BYTES;
  const dir = dayDir(dataDir, table, date);
  await removeContainedFiles(dir, logger);
  // Only the newest run of small files is merged: files already at the target size are left alone, so a busy
  // day is not rewritten over and over. The run is contiguous in log positions, so the merged file's range
  // overlaps no other file (which the redelivery check relies on).
  const all = await listRangeFiles(dir);
  const files: RangeFile[] = [];
  for (let i = all.length - 1; i >= 0; i--) {
    const { size } = await fs.stat(path.join(dir, all[i].name));
    if (size >= targetBytes) break;
    files.unshift(all[i]);
  }
  if (files.length < 2) return { merged: 0, rows: 0, file: null };
  const first = Math.min(...files.map((f) => f.first));
  const last = Math.max(...files.map((f) => f.last));
  const name = `${pad(first)}-${pad(last)}.parquet`;
  const tmp = path.join(dir, `${name}.${process.pid}.tmp`);
  let own: DuckDBInstance | null = null;
  let conn = options.conn;
  if (!conn) {
    own = await DuckDBInstance.create(':memory:');
    conn = await own.connect();
  }
  let rows = 0;
  try {
    const list = files.map((f) => sqlString(path.join(dir, f.name))).join(', ');
    // Files are listed in position order and DuckDB preserves insertion order, so rows stay in log order.
    await conn.run(
      `COPY (SELECT ${RAW_COLUMNS.join(', ')} FROM read_parquet([${list}])) TO ${sqlString(tmp)} (FORMAT parquet)`,
    );
    const check = await conn.runAndReadAll(`SELECT count(*)::BIGINT AS n FROM read_parquet(${sqlString(tmp)})`);
    rows = Number(check.getRowObjects()[0].n);
  } finally {
    if (own) {
      conn.closeSync();
      own.closeSync();
    }
  }
  await renameIn(tmp, path.join(dir, name));
  for (const f of files) await fs.rm(path.join(dir, f.name), { force: true });
  await fsyncDir(dir);
  logger.info({ table, date, merged: files.length, rows, file: name }, 'lander: compacted day');
  return { merged: files.length, rows, file: name };
}

export async function startLander(options: LanderOptions): Promise<Lander> {
  const { bus, dataDir } = options;
  const logger = (options.logger ?? silentLogger).child({ component: 'lander' });
  const compactAfter = options.compactAfterFiles ?? 64;
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  const duck = new Mutex();
  const tableLocks: Record<RawTable, Mutex> = { events: new Mutex(), events_invalid: new Mutex() };
  const stats: LanderStats = {
    rows: 0,
    files: 0,
    skippedDuplicates: 0,
    compactions: 0,
    byTable: { events: 0, events_invalid: 0 },
  };
  const callbacks = new Set<LandedCallback>();

  await ensureRawSchemaFiles(dataDir, conn);
  for (const table of TABLES) {
    const tableDir = localPaths(dataDir).rawTable(table);
    for (const dirent of await fs.readdir(tableDir, { withFileTypes: true })) {
      const entry = dirent.name;
      if (dirent.isDirectory() && entry.startsWith('date=')) {
        await removeContainedFiles(path.join(tableDir, entry), logger);
        // Leftover .tmp files from a crash are not visible to readers (wrong suffix); clear them.
        for (const f of await fs.readdir(path.join(tableDir, entry))) {
          if (f.endsWith('.tmp')) await fs.rm(path.join(tableDir, entry, f), { force: true });
        }
      }
    }
  }

  async function writeFile(
    table: RawTable,
    subscription: string,
    date: string,
    messages: DeliveredMessage[],
  ): Promise<number> {
    const dir = dayDir(dataDir, table, date);
    await fs.mkdir(dir, { recursive: true });
    let fresh = messages;
    let name: string;
    if (messages.every((m) => m.position !== undefined)) {
      const existing = await listRangeFiles(dir);
      fresh = messages.filter((m) => {
        const pos = Number(m.position);
        return !existing.some((f) => pos >= f.first && pos <= f.last);
      });
      stats.skippedDuplicates += messages.length - fresh.length;
      if (fresh.length === 0) return 0;
      name = `${pad(Number(fresh[0].position))}-${pad(Number(fresh[fresh.length - 1].position))}.parquet`;
    } else {
      // No log positions (Pub/Sub): name by content so a redelivery of the same batch overwrites itself.
      const hash = createHash('sha256');
      for (const m of messages) hash.update(m.messageId).update('\n');
      name = `msg-${hash.digest('hex').slice(0, 32)}.parquet`;
    }
    const final = path.join(dir, name);
    const tmp = `${final}.${process.pid}.tmp`;
    await duck.run(async () => {
      await conn.run(`CREATE OR REPLACE TABLE landing (${COLUMNS_DDL})`);
      const appender = await conn.createAppender('landing');
      try {
        for (const m of fresh) {
          appender.appendVarchar(subscription);
          appender.appendVarchar(m.messageId);
          appender.appendVarchar(m.publishTime.toISOString());
          appender.appendVarchar(m.data.toString('utf8'));
          appender.appendVarchar(JSON.stringify(m.attributes));
          appender.endRow();
        }
        appender.flushSync();
      } finally {
        appender.closeSync();
      }
      const bad = await conn.runAndReadAll(
        'SELECT message_id FROM landing WHERE NOT json_valid(data) OR NOT json_valid(attributes) LIMIT 10',
      );
      if (bad.currentRowCount > 0) {
        logger.warn(
          { table, messageIds: bad.getRowObjects().map((r) => r.message_id) },
          'lander: message data or attributes are not valid JSON; storing them as JSON strings',
        );
      }
      await conn.run(`COPY (${LANDING_SELECT}) TO ${sqlString(tmp)} (FORMAT parquet)`);
    });
    await renameIn(tmp, final);
    stats.files += 1;
    return fresh.length;
  }

  function handlerFor(table: RawTable, subscription: string) {
    return async (messages: DeliveredMessage[]): Promise<void> => {
      const byDay = new Map<string, DeliveredMessage[]>();
      for (const m of messages) {
        const day = utcDay(m.publishTime);
        let list = byDay.get(day);
        if (!list) byDay.set(day, (list = []));
        list.push(m);
      }
      let landed = 0;
      await tableLocks[table].run(async () => {
        for (const [date, list] of byDay) landed += await writeFile(table, subscription, date, list);
      });
      stats.rows += landed;
      stats.byTable[table] += landed;
      if (compactAfter > 0) {
        for (const date of byDay.keys()) {
          const count = (await listRangeFiles(dayDir(dataDir, table, date))).length;
          if (count > compactAfter) await compact(table, date);
        }
      }
      if (landed > 0) {
        for (const cb of callbacks) {
          try {
            cb(landed, table);
          } catch (err) {
            logger.error({ err }, 'lander: onLanded callback failed');
          }
        }
      }
    };
  }

  function compact(table: RawTable, date: string): Promise<CompactResult> {
    return tableLocks[table].run(async () => {
      const result = await duck.run(() => compactRaw(dataDir, table, date, { logger, conn }));
      if (result.merged > 0) stats.compactions += 1;
      return result;
    });
  }

  const subscriptions: Subscription[] = ROUTES.map((r) =>
    bus.subscribe(r.topic, r.subscription, handlerFor(r.table, r.subscription), {
      maxBatch: options.batchSize ?? 5000,
      maxWaitMs: options.maxWaitMs ?? 500,
    }),
  );
  let closed = false;

  return {
    stats: () => ({ ...stats, byTable: { ...stats.byTable } }),
    onLanded(callback) {
      callbacks.add(callback);
      return () => callbacks.delete(callback);
    },
    compact,
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(subscriptions.map((s) => s.close()));
      await duck.run(async () => {
        conn.closeSync();
        instance.closeSync();
      });
    },
  };
}
