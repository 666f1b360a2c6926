/**
 * Sync state in the warehouse (`_tagpipe`, contract 6): the delivery ledger, run records and snapshots.
 *
 * `delivery_ledger` answers per record: one row per attempt and outcome, with key, event_id, action, outcome,
 * HTTP status, vendor error, attempts, consent basis and request id. It is a view over three append-only tables,
 * so a batch run writes per request, not per record:
 *
 * - `delivery_plan`: per run, one narrow row per planned record (position, key, event_id, action, row hash,
 *   consent basis), copied from the plan table in one statement before the first request;
 * - `delivery_requests`: per request, the intent (`pending`) before it and the outcome after it, each naming a
 *   range of plan positions; a request whose records got different outcomes has one outcome row per run of equal
 *   outcomes, all written in one statement;
 * - `delivery_records`: rows written per record (streaming sends, and ledgers from before this layout).
 *
 * A pending intent without an outcome for its attempt id is a request whose fate is unknown (the process died
 * mid-send); recovery resolves it on the next run.
 *
 * Outcomes: ok, rejected (permanent, with the vendor's reason), retry (a retryable answer; tried again),
 * failed (retries exhausted; planned again next run), split (a whole-batch rejection being bisected),
 * interrupted (a crash; the destination deduplicates, so the row is planned and sent again), unknown (a crash and
 * the destination cannot deduplicate: left for an operator, never re-sent automatically).
 */
import type { ColumnSpec, SyncWarehouse } from '../warehouse/duckdb';
import type { Dialect } from './sql';

export const STATE_TABLES = {
  runs: 'sync_runs',
  /** The view (see the module header). */
  ledger: 'delivery_ledger',
  ledgerRecords: 'delivery_records',
  ledgerRequests: 'delivery_requests',
  ledgerPlan: 'delivery_plan',
  snapshots: 'snapshots',
  requests: 'request_status',
} as const;

export type LedgerOutcome = 'pending' | 'ok' | 'rejected' | 'retry' | 'failed' | 'split' | 'interrupted' | 'unknown';

export interface LedgerRow {
  run_id: string;
  attempt_id: string;
  sync: string;
  destination: string;
  key: string;
  event_id: string | null;
  action: string;
  row_hash: string | null;
  outcome: LedgerOutcome;
  http_status: number | null;
  vendor_error: string | null;
  attempts: number;
  consent_basis: string | null;
  request_id: string | null;
  at: Date;
}

export const LEDGER_COLUMNS: ColumnSpec[] = [
  { name: 'run_id', type: 'string' },
  { name: 'attempt_id', type: 'string' },
  { name: 'sync', type: 'string' },
  { name: 'destination', type: 'string' },
  { name: 'key', type: 'string' },
  { name: 'event_id', type: 'string' },
  { name: 'action', type: 'string' },
  { name: 'row_hash', type: 'string' },
  { name: 'outcome', type: 'string' },
  { name: 'http_status', type: 'int' },
  { name: 'vendor_error', type: 'string' },
  { name: 'attempts', type: 'int' },
  { name: 'consent_basis', type: 'string' },
  { name: 'request_id', type: 'string' },
  { name: 'at', type: 'timestamp' },
];

/** One request's intent or outcome for a range of plan positions [pos_from, pos_to) of its run. */
export interface RequestRow {
  run_id: string;
  attempt_id: string;
  sync: string;
  destination: string;
  pos_from: number;
  pos_to: number;
  /** Plan buckets (position / bucket width) the range touches, first and last: the view joins on them. */
  bucket_from: number;
  bucket_to: number;
  outcome: LedgerOutcome;
  http_status: number | null;
  vendor_error: string | null;
  attempts: number;
  request_id: string | null;
  at: Date;
}

export const REQUEST_COLUMNS: ColumnSpec[] = [
  { name: 'run_id', type: 'string' },
  { name: 'attempt_id', type: 'string' },
  { name: 'sync', type: 'string' },
  { name: 'destination', type: 'string' },
  { name: 'pos_from', type: 'int' },
  { name: 'pos_to', type: 'int' },
  { name: 'bucket_from', type: 'int' },
  { name: 'bucket_to', type: 'int' },
  { name: 'outcome', type: 'string' },
  { name: 'http_status', type: 'int' },
  { name: 'vendor_error', type: 'string' },
  { name: 'attempts', type: 'int' },
  { name: 'request_id', type: 'string' },
  { name: 'at', type: 'timestamp' },
];

/** What the ledger says of a record that does not change between attempts, per run and plan position. */
export const PLAN_COLUMNS: ColumnSpec[] = [
  { name: 'run_id', type: 'string' },
  { name: 'pos', type: 'int' },
  { name: 'bucket', type: 'int' },
  { name: 'key', type: 'string' },
  { name: 'event_id', type: 'string' },
  { name: 'action', type: 'string' },
  { name: 'row_hash', type: 'string' },
  { name: 'consent_basis', type: 'string' },
];

export const RUN_COLUMNS: ColumnSpec[] = [
  { name: 'run_id', type: 'string' },
  { name: 'sync', type: 'string' },
  { name: 'destination', type: 'string' },
  { name: 'mode', type: 'string' },
  { name: 'status', type: 'string' },
  { name: 'dry_run', type: 'bool' },
  { name: 'started_at', type: 'timestamp' },
  { name: 'finished_at', type: 'timestamp' },
  { name: 'planned', type: 'int' },
  { name: 'adds', type: 'int' },
  { name: 'changes', type: 'int' },
  { name: 'removes', type: 'int' },
  { name: 'delivered', type: 'int' },
  { name: 'rejected', type: 'int' },
  { name: 'failed', type: 'int' },
  { name: 'unknown', type: 'int' },
  { name: 'requests', type: 'int' },
  { name: 'watermark', type: 'timestamp' },
  { name: 'error', type: 'string' },
];

export const SNAPSHOT_COLUMNS: ColumnSpec[] = [
  { name: 'sync', type: 'string' },
  { name: 'key', type: 'string' },
  { name: 'row_hash', type: 'string' },
  { name: 'payload', type: 'string' },
  { name: 'synced_at', type: 'timestamp' },
];

/** What a vendor that processes requests later made of each one (Destination.verify), appended per check. */
export const REQUEST_STATUS_COLUMNS: ColumnSpec[] = [
  { name: 'run_id', type: 'string' },
  { name: 'sync', type: 'string' },
  { name: 'destination', type: 'string' },
  { name: 'request_id', type: 'string' },
  { name: 'status', type: 'string' },
  { name: 'records', type: 'int' },
  { name: 'failed_records', type: 'int' },
  { name: 'errors', type: 'string' },
  { name: 'checked_at', type: 'timestamp' },
];

function ddl(d: Dialect, dataset: string, table: string, columns: ColumnSpec[]): string {
  const cols = columns.map((c) => `${d.col(c.name)} ${d.type[c.type]}`).join(', ');
  return `CREATE TABLE IF NOT EXISTS ${d.table(dataset, table)} (${cols})`;
}

/**
 * The ledger view: per-record rows as written, plus one row per record of each request range, found by plan
 * position. The join is on (run, bucket) with the range as a residual filter: a request spans at most two
 * buckets of its run's batch size, so each plan row meets a handful of request rows (a plain range join would
 * compare every plan row of a run with every request of it).
 */
export function ledgerViewSql(d: Dialect, dataset: string): string {
  const t = (name: string) => d.table(dataset, name);
  const cols = LEDGER_COLUMNS.map((c) => d.col(c.name));
  const fromPlan = new Set(['key', 'event_id', 'action', 'row_hash', 'consent_basis']);
  const joined = LEDGER_COLUMNS.map((c) => `${fromPlan.has(c.name) ? 'p' : 'r'}.${d.col(c.name)}`);
  return `SELECT ${cols.join(', ')} FROM ${t(STATE_TABLES.ledgerRecords)}
UNION ALL
SELECT ${joined.join(', ')}
FROM (${d.expandBuckets(t(STATE_TABLES.ledgerRequests), 'q', 'q.bucket_from', 'q.bucket_to', '_tp_bucket')}) r
JOIN ${t(STATE_TABLES.ledgerPlan)} p ON p.run_id = r.run_id AND p.bucket = r._tp_bucket AND p.pos >= r.pos_from AND p.pos < r.pos_to`;
}

/**
 * Creates the `_tagpipe` schema, tables and the ledger view when missing. A ledger from before the view (a
 * table named `delivery_ledger`) becomes `delivery_records`, rows kept.
 */
export async function ensureState(wh: SyncWarehouse, d: Dialect, dataset: string): Promise<void> {
  await wh.exec(`CREATE SCHEMA IF NOT EXISTS ${d.dataset(dataset)}`);
  await wh.exec(ddl(d, dataset, STATE_TABLES.runs, RUN_COLUMNS));
  const tables =
    d.kind === 'duckdb'
      ? `SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = ${d.str(dataset)}`
      : `SELECT table_name, table_type FROM ${d.dataset(dataset)}.INFORMATION_SCHEMA.TABLES`;
  const existing = new Map(
    (await wh.query<{ table_name: string; table_type: string }>(tables)).map((r) => [r.table_name, r.table_type]),
  );
  if (existing.get(STATE_TABLES.ledger) === 'BASE TABLE' && !existing.has(STATE_TABLES.ledgerRecords)) {
    await wh.exec(
      `ALTER TABLE ${d.table(dataset, STATE_TABLES.ledger)} RENAME TO ${d.col(STATE_TABLES.ledgerRecords)}`,
    );
    existing.delete(STATE_TABLES.ledger);
  }
  await wh.exec(ddl(d, dataset, STATE_TABLES.ledgerRecords, LEDGER_COLUMNS));
  await wh.exec(ddl(d, dataset, STATE_TABLES.ledgerRequests, REQUEST_COLUMNS));
  await wh.exec(ddl(d, dataset, STATE_TABLES.ledgerPlan, PLAN_COLUMNS));
  if (!existing.has(STATE_TABLES.ledger)) {
    await wh.exec(`CREATE VIEW IF NOT EXISTS ${d.table(dataset, STATE_TABLES.ledger)} AS ${ledgerViewSql(d, dataset)}`);
  }
  await wh.exec(ddl(d, dataset, STATE_TABLES.snapshots, SNAPSHOT_COLUMNS));
  await wh.exec(ddl(d, dataset, STATE_TABLES.requests, REQUEST_STATUS_COLUMNS));
}

export interface RequestStatusRow {
  run_id: string;
  sync: string;
  destination: string;
  request_id: string;
  status: string;
  records: number | null;
  failed_records: number | null;
  errors: string | null;
  checked_at: Date;
}

export class RequestStatuses {
  constructor(
    private readonly wh: SyncWarehouse,
    private readonly d: Dialect,
    private readonly dataset: string,
  ) {}

  get table(): string {
    return this.d.table(this.dataset, STATE_TABLES.requests);
  }

  async write(rows: RequestStatusRow[]): Promise<void> {
    if (!rows.length) return;
    await this.wh.insertRows(
      this.dataset,
      STATE_TABLES.requests,
      REQUEST_STATUS_COLUMNS,
      values(REQUEST_STATUS_COLUMNS, rows),
    );
  }

  /**
   * Request ids a sync's batch deliveries carried since `since` that no check has settled yet: this run's, those
   * still pending, and those of runs that failed or crashed before their check. Reads `delivery_requests` (one row
   * per request outcome), not the per-record view.
   */
  async unsettled(requestsTable: string, sync: string, since: Date): Promise<string[]> {
    const d = this.d;
    const rows = await this.wh.query<{ request_id: string }>(
      `SELECT DISTINCT l.request_id FROM ${requestsTable} l WHERE l.sync = ${d.str(sync)} AND l.outcome = 'ok'
       AND l.request_id IS NOT NULL AND l.${d.col('at')} >= ${d.ts(since)}
       AND NOT EXISTS (SELECT 1 FROM ${this.table} r WHERE r.sync = l.sync AND r.request_id = l.request_id
                       AND r.status <> 'pending') ORDER BY l.request_id`,
    );
    return rows.map((r) => r.request_id);
  }

  async forRun(runId: string): Promise<RequestStatusRow[]> {
    return this.wh.query<RequestStatusRow>(
      `SELECT * FROM ${this.table} WHERE run_id = ${this.d.str(runId)} ORDER BY request_id`,
    );
  }
}

interface QueuedWrite {
  records: LedgerRow[];
  requests: RequestRow[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Ledger {
  private queued: QueuedWrite[] = [];
  private draining = false;

  constructor(
    private readonly wh: SyncWarehouse,
    private readonly d: Dialect,
    private readonly dataset: string,
  ) {}

  /** The ledger view, per record. */
  get table(): string {
    return this.d.table(this.dataset, STATE_TABLES.ledger);
  }

  /** Appends per-record rows; resolves once the warehouse has them. */
  write(rows: LedgerRow[]): Promise<void> {
    return this.enqueue(rows, []);
  }

  /** Appends request rows; resolves once the warehouse has them (the pending intent is durable before a send). */
  writeRequests(rows: RequestRow[]): Promise<void> {
    return this.enqueue([], rows);
  }

  /**
   * Writes that arrive while one is being committed are committed together in the next statement (group commit):
   * with several requests in flight, one request's outcome and the next one's intent share a statement (one INSERT
   * per table, on BigQuery one job per table and insert chunk), and each caller still resumes only after its own
   * rows are durable.
   */
  private enqueue(records: LedgerRow[], requests: RequestRow[]): Promise<void> {
    if (records.length === 0 && requests.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ records, requests, resolve, reject });
      if (!this.draining) void this.drain();
    });
  }

  private async drain(): Promise<void> {
    this.draining = true;
    try {
      while (this.queued.length) {
        const group = this.queued;
        this.queued = [];
        try {
          const records = group.flatMap((w) => w.records);
          const requests = group.flatMap((w) => w.requests);
          if (requests.length) {
            await this.wh.insertRows(
              this.dataset,
              STATE_TABLES.ledgerRequests,
              REQUEST_COLUMNS,
              values(REQUEST_COLUMNS, requests),
            );
          }
          if (records.length) {
            await this.wh.insertRows(
              this.dataset,
              STATE_TABLES.ledgerRecords,
              LEDGER_COLUMNS,
              values(LEDGER_COLUMNS, records),
            );
          }
          for (const w of group) w.resolve();
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /**
   * Copies a run's plan into `delivery_plan` (one statement, in the warehouse): what the ledger says of each
   * planned record, by position. `select` yields the columns of PLAN_COLUMNS after run_id and bucket: pos, key,
   * event_id, action, row_hash, consent_basis.
   */
  async recordPlan(runId: string, bucketWidth: number, select: string): Promise<void> {
    const d = this.d;
    const cols = PLAN_COLUMNS.map((c) => d.col(c.name)).join(', ');
    await this.wh.exec(
      `INSERT INTO ${d.table(this.dataset, STATE_TABLES.ledgerPlan)} (${cols})
       SELECT ${d.str(runId)}, x.pos, ${d.intDiv('x.pos', String(Math.max(1, Math.trunc(bucketWidth))))}, x.${d.col('key')}, x.event_id, x.action, x.row_hash, x.consent_basis
       FROM (${select}) x`,
    );
  }

  /** Pending per-record intents of a sync with no outcome row: requests whose fate a crash hid. */
  async unresolved(sync: string): Promise<LedgerRow[]> {
    const d = this.d;
    const records = d.table(this.dataset, STATE_TABLES.ledgerRecords);
    return this.wh.query<LedgerRow>(
      `SELECT p.* FROM ${records} p WHERE p.sync = ${d.str(sync)} AND p.outcome = 'pending'
       AND NOT EXISTS (SELECT 1 FROM ${records} o WHERE o.attempt_id = p.attempt_id AND o.outcome <> 'pending'
                       AND o.sync = p.sync AND o.${d.col('key')} = p.${d.col('key')})
       ORDER BY p.${d.col('at')}`,
    );
  }

  /**
   * Pending request intents of a sync with no outcome for their attempt: the outcome rows of an attempt are
   * written in one statement, so one of them present means all are.
   */
  async unresolvedRequests(sync: string): Promise<RequestRow[]> {
    const d = this.d;
    const requests = d.table(this.dataset, STATE_TABLES.ledgerRequests);
    return this.wh.query<RequestRow>(
      `SELECT p.* FROM ${requests} p WHERE p.sync = ${d.str(sync)} AND p.outcome = 'pending'
       AND NOT EXISTS (SELECT 1 FROM ${requests} o WHERE o.attempt_id = p.attempt_id AND o.outcome <> 'pending'
                       AND o.sync = p.sync)
       ORDER BY p.${d.col('at')}, p.pos_from`,
    );
  }
}

/** Rows as insertRows takes them: one value per column, in column order, null for a missing one. */
function values<T extends object>(columns: ColumnSpec[], rows: T[]): unknown[][] {
  return rows.map((r) => columns.map((c) => (r as Record<string, unknown>)[c.name] ?? null));
}

export interface RunRecord {
  run_id: string;
  sync: string;
  destination: string;
  mode: string;
  status: 'running' | 'ok' | 'partial' | 'failed' | 'refused' | 'crashed';
  dry_run: boolean;
  started_at: Date;
  finished_at: Date | null;
  planned: number;
  adds: number;
  changes: number;
  removes: number;
  delivered: number;
  rejected: number;
  failed: number;
  unknown: number;
  requests: number;
  watermark: Date | null;
  error: string | null;
}

export class Runs {
  constructor(
    private readonly wh: SyncWarehouse,
    private readonly d: Dialect,
    private readonly dataset: string,
  ) {}

  get table(): string {
    return this.d.table(this.dataset, STATE_TABLES.runs);
  }

  async insert(run: RunRecord): Promise<void> {
    const d = this.d;
    const values = RUN_COLUMNS.map((c) => literal(d, c.type, run[c.name as keyof RunRecord]));
    await this.wh.exec(
      `INSERT INTO ${this.table} (${RUN_COLUMNS.map((c) => d.col(c.name)).join(', ')}) VALUES (${values.join(', ')})`,
    );
  }

  async finish(run: RunRecord): Promise<void> {
    const d = this.d;
    const sets = RUN_COLUMNS.filter((c) => c.name !== 'run_id')
      .map((c) => `${d.col(c.name)} = ${literal(d, c.type, run[c.name as keyof RunRecord])}`)
      .join(', ');
    await this.wh.exec(`UPDATE ${this.table} SET ${sets} WHERE run_id = ${d.str(run.run_id)}`);
  }

  /** Runs that never finished (the process died): status still `running`. */
  async crashed(sync: string): Promise<RunRecord[]> {
    return this.wh.query<RunRecord>(
      `SELECT * FROM ${this.table} WHERE sync = ${this.d.str(sync)} AND status = 'running'`,
    );
  }

  async markCrashed(runIds: string[], at: Date): Promise<void> {
    if (!runIds.length) return;
    const d = this.d;
    await this.wh.exec(
      `UPDATE ${this.table} SET status = 'crashed', finished_at = ${d.ts(at)}, error = 'the run did not finish (process ended)' ` +
        `WHERE run_id IN (${runIds.map((r) => d.str(r)).join(', ')})`,
    );
  }

  /** Start time of the latest run that finished (ok or partial), per sync: for `--due`. */
  async lastFinished(): Promise<Map<string, Date>> {
    const rows = await this.wh.query<{ sync: string; last: string }>(
      `SELECT sync, MAX(started_at) AS last FROM ${this.table} WHERE status IN ('ok', 'partial', 'failed') GROUP BY sync`,
    );
    return new Map(rows.map((r) => [r.sync, new Date(r.last)]));
  }

  /** Watermark of the latest run of an append sync that got past planning. */
  async lastWatermark(sync: string): Promise<Date | null> {
    const rows = await this.wh.query<{ w: string | null }>(
      `SELECT MAX(watermark) AS w FROM ${this.table} WHERE sync = ${this.d.str(sync)} AND status IN ('ok', 'partial', 'failed', 'crashed')`,
    );
    return rows[0]?.w ? new Date(rows[0].w) : null;
  }

  async recent(limit = 20, sync?: string): Promise<RunRecord[]> {
    const where = sync ? `WHERE sync = ${this.d.str(sync)}` : '';
    return this.wh.query<RunRecord>(
      `SELECT * FROM ${this.table} ${where} ORDER BY started_at DESC LIMIT ${Math.trunc(limit)}`,
    );
  }
}

function literal(d: Dialect, type: ColumnSpec['type'], value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (type) {
    case 'string':
      return d.str(String(value));
    case 'int':
      return String(Math.trunc(Number(value)));
    case 'float':
      return String(Number(value));
    case 'bool':
      return value ? 'TRUE' : 'FALSE';
    case 'timestamp':
      return d.ts(value instanceof Date ? value : new Date(String(value)));
  }
}
