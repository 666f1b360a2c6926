/**
 * Sync state in the warehouse (`_tagpipe`, contract 6): the delivery ledger, run records and snapshots.
 *
 * The ledger is append-only: before a request, one `pending` row per record (the intent, sharing an attempt id);
 * after it, one row per record with the outcome. A pending row without an outcome row for its attempt id is a
 * request whose fate is unknown (the process died mid-send); recovery resolves it on the next run.
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
  ledger: 'delivery_ledger',
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

/** Creates the `_tagpipe` schema and tables when missing. */
export async function ensureState(wh: SyncWarehouse, d: Dialect, dataset: string): Promise<void> {
  await wh.exec(`CREATE SCHEMA IF NOT EXISTS ${d.dataset(dataset)}`);
  await wh.exec(ddl(d, dataset, STATE_TABLES.runs, RUN_COLUMNS));
  await wh.exec(ddl(d, dataset, STATE_TABLES.ledger, LEDGER_COLUMNS));
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
      rows.map((r) => REQUEST_STATUS_COLUMNS.map((c) => r[c.name as keyof RequestStatusRow] ?? null)),
    );
  }

  /** Request ids of a sync whose latest check left them pending: checked again on its next run. */
  async pending(sync: string): Promise<string[]> {
    const rows = await this.wh.query<{ request_id: string }>(
      `SELECT DISTINCT p.request_id FROM ${this.table} p WHERE p.sync = ${this.d.str(sync)} AND p.status = 'pending'
       AND NOT EXISTS (SELECT 1 FROM ${this.table} o WHERE o.sync = p.sync AND o.request_id = p.request_id
                       AND o.status <> 'pending') ORDER BY p.request_id`,
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
  rows: LedgerRow[];
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

  get table(): string {
    return this.d.table(this.dataset, STATE_TABLES.ledger);
  }

  /**
   * Appends rows; resolves once the warehouse has them (the pending intent must be durable before a send).
   * Writes that arrive while one is being committed are committed together in the next statement (group commit):
   * with several requests in flight, one batch's outcome and the next batch's intent share a commit, and each
   * caller still resumes only after its own rows are durable. A commit costs about as much as 5,000 rows.
   */
  write(rows: LedgerRow[]): Promise<void> {
    if (rows.length === 0) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ rows, resolve, reject });
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
          await this.wh.insertRows(
            this.dataset,
            STATE_TABLES.ledger,
            LEDGER_COLUMNS,
            group.flatMap((w) => w.rows.map((r) => LEDGER_COLUMNS.map((c) => r[c.name as keyof LedgerRow] ?? null))),
          );
          for (const w of group) w.resolve();
        } catch (error) {
          for (const w of group) w.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Pending intents of a sync with no outcome row: requests whose fate a crash hid. */
  async unresolved(sync: string): Promise<LedgerRow[]> {
    const d = this.d;
    return this.wh.query<LedgerRow>(
      `SELECT p.* FROM ${this.table} p WHERE p.sync = ${d.str(sync)} AND p.outcome = 'pending'
       AND NOT EXISTS (SELECT 1 FROM ${this.table} o WHERE o.attempt_id = p.attempt_id AND o.outcome <> 'pending'
                       AND o.sync = p.sync AND o.${d.col('key')} = p.${d.col('key')})
       ORDER BY p.${d.col('at')}`,
    );
  }
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
