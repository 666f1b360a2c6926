/**
 * The executor: runs one sync. Recovers what a crashed run left, plans (planner.ts), then streams the plan in
 * pages, fills batches to the destination's limits (records and payload bytes), sends them under its
 * concurrency and rate limits, retries retryable outcomes (Retry-After first, else capped exponential backoff
 * with jitter), records permanent rejections per row, and bisects whole-batch rejections so one bad row does not
 * sink its neighbours. Every attempt is in the ledger: a `pending` intent before the request (only for vendors that
 * cannot deduplicate a resend), the outcome after, each one row per request naming its range of plan positions
 * (ledger.ts), so the ledger costs per request, not per record. Snapshots advance only for delivered rows.
 *
 * State is kept per state key: the sync name, with `__dry_run` / `__validate` appended for those runs, so a dry
 * run or a validation never counts as delivery.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { consentBasis } from '../core/consent';
import type {
  Clock,
  ConsentPurpose,
  Destination,
  DestinationContext,
  DestinationLimits,
  HttpClient,
  Outcome,
  RequestVerification,
  SyncRecord,
} from '../core/destination';
import { ConfigError, RetryableError } from '../core/errors';
import type { Consent } from '../core/event';
import { SYNC_SEND_MEMORY_LIMIT, type DuckDbWarehouse, type SyncWarehouse } from '../warehouse/duckdb';
import type { SyncDefinition } from './config';
import {
  ensureState,
  Ledger,
  RequestStatuses,
  Runs,
  STATE_TABLES,
  type LedgerOutcome,
  type RequestRow,
  type RunRecord,
} from './ledger';
import {
  parsePayload,
  plan,
  planLedgerSql,
  planPageSql,
  planRowsSql,
  PLAN_ROW_SEPARATOR,
  planTableName,
  recordAction,
  type PlanAction,
  type PlanSummary,
} from './planner';
import { dialectFor, writingUncompressed, type Dialect } from './sql';
import { backoffMs, Gate, Throttle, type BackoffOptions } from './throttle';

export interface Progress {
  planned: number;
  /** Records with a final outcome this run. */
  done: number;
  delivered: number;
  rejected: number;
  failed: number;
  requests: number;
}

export interface BatchStats {
  batches: number;
  records: number;
  /** Mean fill of the batches sent first (all but the last of the run), against the record limit. */
  fillRatio: number;
  maxBatchSize: number;
}

export interface ExecutorDeps {
  warehouse: SyncWarehouse;
  destination: Destination<unknown>;
  /** Already validated by the destination's schema. */
  destinationConfig: unknown;
  http: HttpClient;
  logger: Logger;
  clock: Clock;
  stateDataset?: string;
  martsDataset?: string;
  dryRun?: boolean;
  validate?: boolean;
  force?: boolean;
  /** Rows per page read from the warehouse. */
  pageSize?: number;
  backoff?: BackoffOptions;
  onProgress?: (progress: Progress) => void;
  /** Plan, record the refusal or the plan, but send nothing (for `sync plan`). */
  planOnly?: boolean;
}

export interface RecoveryResult {
  crashedRuns: string[];
  interrupted: number;
  unknown: number;
}

/** Wall time per phase of a run, for logs and the benchmark. */
export interface RunTimings {
  recoverMs: number;
  planMs: number;
  sendMs: number;
  snapshotMs: number;
}

export interface RunResult {
  timings: RunTimings;
  run: RunRecord;
  plan: PlanSummary;
  recovery: RecoveryResult;
  stats: BatchStats;
  /** What the vendor made of the run's requests, for destinations that process later (Destination.verify). */
  verification?: RequestVerification[];
}

export function stateKey(
  sync: Pick<SyncDefinition, 'name'>,
  options: { dryRun?: boolean; validate?: boolean },
): string {
  return `${sync.name}${options.dryRun ? '__dry_run' : ''}${options.validate ? '__validate' : ''}`;
}

export function resolveLimits(destination: Destination<unknown>, config: unknown): DestinationLimits {
  return typeof destination.limits === 'function' ? destination.limits(config) : destination.limits;
}

/**
 * A planned record waiting in a batch: its JSON text, parsed into a SyncRecord only when its request goes out.
 * A batch waits for its intent to commit with up to `maxConcurrency` others; as text it holds half the memory.
 */
interface Item {
  action: PlanAction;
  payload: string;
  /** Position in the plan: names the record in the ledger (`delivery_plan`). */
  pos: number;
  bytes: number;
}

/** Records per request: the sync's batchSize within the destination's limit. */
export function batchLimit(sync: Pick<SyncDefinition, 'batchSize'>, limits: DestinationLimits): number {
  return Math.max(1, Math.min(sync.batchSize ?? limits.maxBatchSize, limits.maxBatchSize));
}

const CONSENT_SOURCES = new Set(['gcm', 'tcf', 'explicit', 'default']);

/** The consent basis recorded with a send, from the row's consent columns (null when it has none). */
export function rowConsentBasis(row: Record<string, unknown>, purposes: ConsentPurpose[]): string | null {
  if (!('consent_source' in row) && !('consent_ads' in row)) return null;
  const source =
    typeof row.consent_source === 'string' && CONSENT_SOURCES.has(row.consent_source) ? row.consent_source : 'default';
  const consent = {
    analytics: row.consent_analytics === true,
    ads: row.consent_ads === true,
    ad_user_data: row.consent_ad_user_data === true,
    ad_personalization: row.consent_ad_personalization === true,
    source,
  } as Consent;
  return consentBasis(consent, purposes);
}

/**
 * Resolves what crashed runs left: pending intents without an outcome become `interrupted` (the destination
 * deduplicates: the rows are planned and sent again) or `unknown` (it cannot: they wait for an operator), and
 * rows those runs delivered advance the snapshot from the plan they were sent from.
 */
export async function recover(
  wh: SyncWarehouse,
  d: Dialect,
  dataset: string,
  key: string,
  destination: Destination<unknown>,
  clock: Clock,
  logger: Logger,
  mode: SyncDefinition['mode'],
): Promise<RecoveryResult> {
  const ledger = new Ledger(wh, d, dataset);
  const runs = new Runs(wh, d, dataset);
  const crashed = (await runs.crashed(key)).map((r) => r.run_id);
  const open = await ledger.unresolved(key);
  const openRequests = await ledger.unresolvedRequests(key);
  const dedup = destination.dedup ?? 'none';
  const outcome: LedgerOutcome = dedup === 'none' ? 'unknown' : 'interrupted';
  const at = clock.now();
  const note =
    outcome === 'unknown'
      ? `the process ended while this request was in flight and ${destination.name} cannot deduplicate a resend: check the destination; it is not sent again automatically (tagpipe sync status lists these)`
      : `the process ended while this request was in flight; ${destination.name} deduplicates (${dedup}), so it is sent again`;
  const records = open.length + openRequests.reduce((n, r) => n + Number(r.pos_to) - Number(r.pos_from), 0);
  if (open.length) await ledger.write(open.map((p) => ({ ...p, at, outcome, vendor_error: note })));
  if (openRequests.length) {
    await ledger.writeRequests(openRequests.map((p) => ({ ...p, at, outcome, vendor_error: note })));
  }
  if (records) logger.warn({ count: records, outcome }, 'resolved requests a crashed run left in flight');
  for (const runId of crashed) await applySnapshots(wh, d, dataset, key, runId, at, { mode });
  await runs.markCrashed(crashed, at);
  return {
    crashedRuns: crashed,
    interrupted: outcome === 'interrupted' ? records : 0,
    unknown: outcome === 'unknown' ? records : 0,
  };
}

/**
 * Advances the snapshot by what a run delivered: removes leave it, adds and changes enter with their hash. An
 * append sync keeps no snapshot: it plans from the ledger (keys with an ok, rejected or unknown row), so copying
 * every sent event's payload would only cost time and space.
 */
export async function applySnapshots(
  wh: SyncWarehouse,
  d: Dialect,
  dataset: string,
  key: string,
  runId: string,
  at: Date,
  options: {
    mode: SyncDefinition['mode'];
    /** The run's plan has no changes or removes: no snapshot row to replace, so nothing to delete first. */
    addsOnly?: boolean;
    /** Every planned record was delivered: the plan is the delivered set, no need to look it up in the ledger. */
    allDelivered?: boolean;
  },
): Promise<void> {
  if (options.mode === 'append') return;
  const snapshots = d.table(dataset, STATE_TABLES.snapshots);
  const ledger = d.table(dataset, STATE_TABLES.ledger);
  const planTable = d.table(dataset, planTableName(key));
  const k = d.col('key');
  const delivered = `SELECT ${k} FROM ${ledger} WHERE run_id = ${d.str(runId)} AND outcome = 'ok'`;
  if (!options.allDelivered) {
    const exists = await wh.query<{ n: number }>(`SELECT COUNT(*) AS n FROM (${delivered}) x`);
    if (!exists[0] || Number(exists[0].n) === 0) return;
  }
  const remove = options.addsOnly
    ? ''
    : `DELETE FROM ${snapshots} WHERE sync = ${d.str(key)} AND ${k} IN (${delivered});`;
  await writingUncompressed(wh, () =>
    wh.exec(
      `${d.begin}; ${remove}
     INSERT INTO ${snapshots} (sync, ${k}, row_hash, payload, synced_at)
       SELECT ${d.str(key)}, p._tp_key, p._tp_hash, p._tp_payload, ${d.ts(at)} FROM ${planTable} p
       WHERE p._tp_action <> 'remove'${options.allDelivered ? '' : ` AND p._tp_key IN (${delivered})`}; ${d.commit};`,
    ),
  );
}

interface LedgerEntry {
  outcome: LedgerOutcome;
  o?: Outcome;
  note?: string;
}

/** Whether two records' ledger entries are the same (then they share a row): outcome, status, error, request id. */
function sameEntry(a: LedgerEntry, b: LedgerEntry): boolean {
  if (a === b) return true;
  if (a.outcome !== b.outcome || a.note !== b.note) return false;
  const x = a.o;
  const y = b.o;
  if (!x || !y) return x === y;
  if (x.httpStatus !== y.httpStatus) return false;
  if (x.status === 'ok' && y.status === 'ok') return x.requestId === y.requestId;
  return errorText(x) === errorText(y);
}

function errorText(outcome: Outcome): string | null {
  if (outcome.status === 'ok') return null;
  return outcome.vendorCode ? `${outcome.vendorCode}: ${outcome.reason}` : outcome.reason;
}

/** Runs one sync end to end and returns its run record. Throws ConfigError for a broken setup. */
export async function runSync(sync: SyncDefinition, deps: ExecutorDeps): Promise<RunResult> {
  const wh = deps.warehouse;
  const d = dialectFor(wh);
  const dataset = deps.stateDataset ?? '_tagpipe';
  const clock = deps.clock;
  const destination = deps.destination;
  const key = stateKey(sync, deps);
  const logger = deps.logger.child({ sync: sync.name, destination: destination.name });
  const needed: Record<SyncDefinition['mode'], string[]> = {
    append: ['events'],
    mirror: ['audience_add', 'audience_remove'],
    upsert: ['record_upsert'],
  };
  const missing = needed[sync.mode].filter((c) => !destination.capabilities.includes(c as never));
  if (missing.length) {
    throw new ConfigError(
      `sync ${sync.name}: mode ${sync.mode} needs ${destination.name} to support ${missing.join(' and ')}`,
      'syncs',
    );
  }
  const limits = resolveLimits(destination, deps.destinationConfig);
  const timings: RunTimings = { recoverMs: 0, planMs: 0, sendMs: 0, snapshotMs: 0 };
  let mark = performance.now();
  const lap = (name: keyof RunTimings) => {
    const now = performance.now();
    timings[name] = Math.round(now - mark);
    mark = now;
  };
  await ensureState(wh, d, dataset);
  const recovery = await recover(wh, d, dataset, key, destination, clock, logger, sync.mode);
  lap('recoverMs');
  const summary = await plan(
    {
      wh,
      d,
      sync: { ...sync, name: key },
      stateDataset: dataset,
      martsDataset: deps.martsDataset ?? 'marts',
      destinationConsent: destination.requiredConsent,
      now: clock.now(),
      maxEventAgeSeconds: limits.maxEventAgeSeconds,
      displayName: sync.name,
    },
    deps.force,
  );
  summary.sync = sync.name;
  lap('planMs');
  const run: RunRecord = {
    run_id: randomUUID(),
    sync: sync.name,
    destination: destination.name,
    mode: sync.mode,
    status: 'running',
    dry_run: Boolean(deps.dryRun),
    started_at: clock.now(),
    finished_at: null,
    planned: summary.total,
    adds: summary.adds + summary.sends,
    changes: summary.changes,
    removes: summary.removes,
    delivered: 0,
    rejected: 0,
    failed: 0,
    unknown: recovery.unknown,
    requests: 0,
    watermark: summary.watermark,
    error: null,
  };
  const runs = new Runs(wh, d, dataset);
  const emptyStats: BatchStats = { batches: 0, records: 0, fillRatio: 0, maxBatchSize: limits.maxBatchSize };
  if (deps.planOnly) return { run, plan: summary, recovery, stats: emptyStats, timings };
  if (summary.refusal) {
    run.status = 'refused';
    run.error = summary.refusal;
    run.finished_at = clock.now();
    await runs.insert(run);
    logger.error({ removes: summary.removes, snapshot: summary.snapshotSize }, summary.refusal);
    return { run, plan: summary, recovery, stats: emptyStats, timings };
  }
  await runs.insert(run);
  // What the ledger says of each planned record, copied in the warehouse before the first request names it.
  if (summary.total > 0) {
    await new Ledger(wh, d, dataset).recordPlan(run.run_id, batchLimit(sync, limits), planLedgerSql(d, summary));
  }
  logger.info(
    { run_id: run.run_id, planned: summary.total, adds: run.adds, changes: run.changes, removes: run.removes },
    'sync run started',
  );
  const executor = new BatchExecutor(sync, deps, { key, run, limits, purposes: summary.purposes, logger, d, dataset });
  try {
    if (wh.kind === 'duckdb') {
      await (wh as DuckDbWarehouse).withMemoryLimit(SYNC_SEND_MEMORY_LIMIT, () => executor.execute(summary));
    } else {
      await executor.execute(summary);
    }
    run.status = run.failed > 0 || run.rejected > 0 ? 'partial' : 'ok';
  } catch (error) {
    run.status = 'failed';
    run.error = (error as Error).message;
    logger.error({ err: error }, 'sync run failed');
  }
  run.finished_at = clock.now();
  lap('sendMs');
  const verification = await verifyRequests(deps, run, { key, d, dataset, logger });
  await applySnapshots(wh, d, dataset, key, run.run_id, run.finished_at, {
    mode: sync.mode,
    addsOnly: summary.changes === 0 && summary.removes === 0,
    allDelivered: run.status === 'ok' && run.delivered === summary.total,
  });
  await runs.finish(run);
  lap('snapshotMs');
  logger.info(
    {
      run_id: run.run_id,
      status: run.status,
      delivered: run.delivered,
      rejected: run.rejected,
      failed: run.failed,
      requests: run.requests,
      ...timings,
    },
    'sync run finished',
  );
  if (run.status === 'failed' && run.error && executor.fatal instanceof ConfigError) throw executor.fatal;
  return { run, plan: summary, recovery, stats: executor.stats(), timings, ...(verification ? { verification } : {}) };
}

/** How far back a run looks for accepted requests no check has settled (pending, or from a failed run). */
const VERIFY_WINDOW_MS = 7 * 24 * 3600_000;

/**
 * For destinations that accept requests and process them later (Destination.verify): asks what became of the
 * request ids this run's deliveries carried and of earlier ones not settled yet, records each answer in
 * `request_status`, and marks the run partial with a summary when the vendor reports failed records. A failing
 * check is logged and never fails the run: the records were accepted.
 */
async function verifyRequests(
  deps: ExecutorDeps,
  run: RunRecord,
  s: { key: string; d: Dialect; dataset: string; logger: Logger },
): Promise<RequestVerification[] | undefined> {
  const destination = deps.destination;
  if (!destination.verify || deps.dryRun || deps.validate || run.status === 'failed') return undefined;
  const wh = deps.warehouse;
  const statuses = new RequestStatuses(wh, s.d, s.dataset);
  try {
    const since = new Date(run.started_at.getTime() - VERIFY_WINDOW_MS);
    const requestIds = await statuses.unsettled(s.d.table(s.dataset, STATE_TABLES.ledgerRequests), s.key, since);
    if (!requestIds.length) return [];
    const ctx: DestinationContext<unknown> = {
      config: deps.destinationConfig,
      http: deps.http,
      logger: s.logger,
      clock: deps.clock,
      dryRun: false,
      validate: false,
    };
    const results = await destination.verify(requestIds, ctx);
    const at = deps.clock.now();
    await statuses.write(
      results.map((v) => ({
        run_id: run.run_id,
        sync: s.key,
        destination: destination.name,
        request_id: v.requestId,
        status: v.status,
        records: v.records ?? null,
        failed_records: v.failedRecords ?? null,
        errors: v.errors.length ? v.errors.join('; ') : null,
        checked_at: at,
      })),
    );
    const bad = results.filter((v) => v.status === 'failure' || v.status === 'partial');
    const pending = results.filter((v) => v.status === 'pending').length;
    if (bad.length) {
      const failed = bad.reduce((n, v) => n + (v.failedRecords ?? 0), 0);
      const reasons = [...new Set(bad.flatMap((v) => v.errors))].slice(0, 5).join('; ');
      const note = `${destination.name} reported failed records in ${bad.length} of ${results.length} requests (failed records: ${failed}): ${reasons}`;
      run.error = run.error ? `${run.error}; ${note}` : note;
      if (run.status === 'ok') run.status = 'partial';
      s.logger.warn({ requests: results.length, failed_requests: bad.length, failed_records: failed }, note);
    }
    s.logger.info(
      { requests: results.length, failed_requests: bad.length, pending },
      'checked what the destination made of the requests',
    );
    return results;
  } catch (error) {
    s.logger.warn({ err: error }, 'could not check request status; checked again on the next run');
    return undefined;
  }
}

interface ExecutorState {
  key: string;
  run: RunRecord;
  limits: DestinationLimits;
  purposes: ConsentPurpose[];
  logger: Logger;
  d: Dialect;
  dataset: string;
}

class BatchExecutor {
  private readonly ledger: Ledger;
  private readonly gate: Gate;
  private readonly throttle: Throttle;
  private readonly maxBatch: number;
  private readonly maxBytes: number;
  private readonly ctx: DestinationContext<unknown>;
  private readonly backoff: BackoffOptions;
  private readonly intents: boolean;
  /**
   * The last outcome write queued: the ledger commits writes in the order they were queued, so once it has
   * settled every earlier one has too. Awaited before the run finishes.
   */
  private recorded: Promise<void> = Promise.resolve();
  private seq = 0;
  private batchSizes: number[] = [];
  private done = 0;
  fatal: Error | null = null;

  constructor(
    private readonly sync: SyncDefinition,
    private readonly deps: ExecutorDeps,
    private readonly s: ExecutorState,
  ) {
    this.ledger = new Ledger(deps.warehouse, s.d, s.dataset);
    this.gate = new Gate(Math.max(1, s.limits.maxConcurrency ?? 2));
    this.throttle = new Throttle(deps.clock, s.limits.requestsPerSecond);
    this.maxBatch = batchLimit(sync, s.limits);
    this.maxBytes = s.limits.maxPayloadBytes ?? Infinity;
    this.backoff = deps.backoff ?? { baseMs: 1000, capMs: 60_000 };
    // The intent before a request exists so that a crash never re-sends what the vendor cannot deduplicate. A
    // vendor that deduplicates is sent a request with no intent: a crash before its outcome commits leaves the
    // records unrecorded, so they are planned and sent again, which that vendor absorbs.
    this.intents = (deps.destination.dedup ?? 'none') === 'none';
    this.ctx = {
      config: deps.destinationConfig,
      http: deps.http,
      logger: s.logger,
      clock: deps.clock,
      dryRun: Boolean(deps.dryRun),
      validate: Boolean(deps.validate),
    };
  }

  stats(): BatchStats {
    const sizes = this.batchSizes;
    const counted = sizes.length > 1 ? sizes.slice(0, -1) : sizes;
    const fill = counted.length ? counted.reduce((a, b) => a + b, 0) / (counted.length * this.maxBatch) : 0;
    return {
      batches: sizes.length,
      records: sizes.reduce((a, b) => a + b, 0),
      fillRatio: fill,
      maxBatchSize: this.maxBatch,
    };
  }

  private progress(): void {
    const r = this.s.run;
    this.deps.onProgress?.({
      planned: r.planned,
      done: this.done,
      delivered: r.delivered,
      rejected: r.rejected,
      failed: r.failed,
      requests: r.requests,
    });
  }

  private toItem(line: string, pos: number): Item {
    // `action|hash|payload` (planRowsSql): action and hash never contain '|'.
    const a = line.indexOf('|');
    const h = line.indexOf('|', a + 1);
    const payload = line.slice(h + 1);
    return { action: line.slice(0, a) as PlanAction, payload, pos, bytes: payload.length };
  }

  private toRecord(item: Item): SyncRecord {
    const { key, row } = parsePayload(item.payload);
    return { key, action: recordAction(this.sync.mode, item.action), row };
  }

  /**
   * The plan in pages, in position order. On DuckDB each page is its own short read by rowid (the plan table is
   * never changed, so rowids are 0..total-1): a streaming result would hold one
   * read transaction open for the whole send, and while it is open DuckDB cannot checkpoint or clean up the
   * versions of the ledger rows committed meanwhile, so every later ledger insert got slower (send time per
   * record grew with the run's size). Pages are read on a second connection, one ahead: the next page is read
   * while this one is parsed and sent and while the ledger commits. A page arrives as one text (planPageSql):
   * converting one value instead of one per row made the send about a fifth faster.
   */
  private async *planPages(summary: PlanSummary): AsyncIterable<{ r: string }[]> {
    // 1,000 rows: a page of 1M conversions at 2,000 rows (about 1.4 MB of text, two alive with the read ahead) left
    // the append's peak RSS at 303-308 MB, at 1,000 rows 233-238 MB, with the same send time.
    const size = this.deps.pageSize ?? 1000;
    const wh = this.deps.warehouse;
    if (wh.kind !== 'duckdb') {
      yield* wh.stream<{ r: string }>(`${planRowsSql(summary)} ORDER BY _tp_pos`, undefined, size);
      return;
    }
    const duck = wh as DuckDbWarehouse;
    const read = (from: number) => {
      const page = duck
        .queryAside<{ r: string | null }>(planPageSql(summary, from, from + size))
        .then((rows) => (rows[0]?.r ? rows[0].r.split(PLAN_ROW_SEPARATOR).map((r) => ({ r })) : []));
      page.catch(() => undefined); // awaited below; a page read ahead of a failed run must not go unhandled
      return page;
    };
    let next = summary.total > 0 ? read(0) : null;
    for (let from = 0; next; from += size) {
      const rows = await next;
      next = from + size < summary.total ? read(from + size) : null;
      // Positions are counted as rows arrive: a page short of its rowids would shift every later one.
      if (rows.length !== Math.min(size, summary.total - from)) {
        throw new Error(`plan table ${summary.planTable} changed during the run (rowids ${from}.. missing)`);
      }
      yield rows;
    }
  }

  async execute(summary: PlanSummary): Promise<void> {
    const inflight = new Set<Promise<void>>();
    let batch: Item[] = [];
    let bytes = 0;
    let pos = 0;
    const dispatch = async () => {
      const items = batch;
      batch = [];
      bytes = 0;
      this.batchSizes.push(items.length);
      await this.gate.acquire();
      const p: Promise<void> = this.deliver(items, 1)
        .catch((error: unknown) => {
          this.fatal ??= error as Error;
        })
        .finally(() => {
          this.gate.release();
          inflight.delete(p);
        });
      inflight.add(p);
    };
    for await (const page of this.planPages(summary)) {
      for (const row of page) {
        const item = this.toItem(row.r, pos++);
        if (batch.length && (batch.length >= this.maxBatch || bytes + item.bytes > this.maxBytes)) await dispatch();
        batch.push(item);
        bytes += item.bytes;
      }
      if (this.fatal) break;
    }
    if (batch.length && !this.fatal) await dispatch();
    await Promise.all([...inflight]);
    await this.recorded;
    if (this.fatal) throw this.fatal;
  }

  /**
   * Queues an attempt's outcome rows without waiting for their commit, so the next request goes out while they
   * commit (concurrent writes share a commit: ledger.ts). Nothing is lost to a crash by not waiting: the ledger
   * commits writes in the order they were queued, so the intent of a later request, which is waited for, is
   * durable only after every outcome queued before it; and a vendor sent no intent deduplicates (constructor).
   * The run finishes only after every queued write committed (execute).
   */
  private record(rows: RequestRow[]): void {
    this.recorded = this.ledger.writeRequests(rows).catch((error: unknown) => {
      this.fatal ??= error as Error;
    });
  }

  /**
   * Ledger rows for one request: one per run of records at consecutive plan positions with the same entry (the
   * intent, or an outcome with its status, error and request id). A whole batch with one outcome is one row.
   */
  private requestRows(
    items: Item[],
    attemptId: string,
    attempt: number,
    at: Date,
    entryOf: (index: number) => LedgerEntry,
  ): RequestRow[] {
    const rows: RequestRow[] = [];
    let start = 0;
    let first = entryOf(0);
    for (let i = 1; i <= items.length; i++) {
      const entry = i < items.length ? entryOf(i) : null;
      if (entry && items[i].pos === items[i - 1].pos + 1 && sameEntry(entry, first)) continue;
      const from = items[start].pos;
      const to = items[i - 1].pos + 1;
      rows.push({
        run_id: this.s.run.run_id,
        attempt_id: attemptId,
        sync: this.s.key,
        destination: this.deps.destination.name,
        pos_from: from,
        pos_to: to,
        bucket_from: Math.floor(from / this.maxBatch),
        bucket_to: Math.floor((to - 1) / this.maxBatch),
        outcome: first.outcome,
        http_status: first.o?.httpStatus ?? null,
        vendor_error: first.note ?? (first.o ? errorText(first.o) : null),
        attempts: attempt,
        request_id: first.o && first.o.status === 'ok' ? (first.o.requestId ?? null) : null,
        at,
      });
      if (entry) {
        start = i;
        first = entry;
      }
    }
    return rows;
  }

  /** One request: intent, send, outcome. Errors thrown by the destination become outcomes here. */
  private async sendOnce(items: Item[], attempt: number): Promise<{ attemptId: string; outcomes: Outcome[] }> {
    await this.throttle.take();
    const attemptId = `${this.s.run.run_id}:${++this.seq}`;
    if (this.intents) {
      const pending = { outcome: 'pending' as const };
      await this.ledger.writeRequests(
        this.requestRows(items, attemptId, attempt, this.deps.clock.now(), () => pending),
      );
    }
    this.s.run.requests++;
    const records = items.map((i) => this.toRecord(i));
    let outcomes: Outcome[];
    try {
      outcomes = await this.deps.destination.send(records, this.ctx);
      if (outcomes.length !== items.length) {
        throw new Error(
          `${this.deps.destination.name} returned ${outcomes.length} outcomes for ${items.length} records`,
        );
      }
    } catch (error) {
      if (error instanceof ConfigError) {
        const failed = { outcome: 'failed' as const, note: error.message };
        await this.ledger.writeRequests(
          this.requestRows(items, attemptId, attempt, this.deps.clock.now(), () => failed),
        );
        this.s.run.failed += items.length;
        throw error;
      }
      const retryAfterMs = error instanceof RetryableError ? error.retryAfterMs : undefined;
      if (!(error instanceof RetryableError))
        this.s.logger.error({ err: error }, 'destination threw; treating the batch as retryable');
      outcomes = items.map(() => ({ status: 'retry', reason: (error as Error).message, retryAfterMs }));
    }
    return { attemptId, outcomes };
  }

  /** Final outcomes counted, retries picked out, and the outcome rows of one attempt. */
  private settle(
    todo: Item[],
    outcomes: Outcome[],
    attemptId: string,
    attempt: number,
  ): { rows: RequestRow[]; retry: Item[]; retryAfter: number } {
    const entries: LedgerEntry[] = [];
    const retry: Item[] = [];
    let retryAfter = 0;
    todo.forEach((item, i) => {
      const o = outcomes[i];
      if (o.status === 'ok') {
        entries.push({ outcome: 'ok', o });
        this.s.run.delivered++;
        this.done++;
      } else if (o.status === 'rejected') {
        entries.push({ outcome: 'rejected', o });
        this.s.run.rejected++;
        this.done++;
      } else if (attempt >= this.sync.maxAttempts) {
        entries.push({ outcome: 'failed', o });
        this.s.run.failed++;
        this.done++;
      } else {
        entries.push({ outcome: 'retry', o });
        retry.push(item);
        retryAfter = Math.max(retryAfter, o.retryAfterMs ?? 0);
      }
    });
    const rows = this.requestRows(todo, attemptId, attempt, this.deps.clock.now(), (i) => entries[i]);
    return { rows, retry, retryAfter };
  }

  private async deliver(items: Item[], firstAttempt: number): Promise<void> {
    let todo = items;
    // Only `todo` holds the batch from here: delivered rows are released while their outcome commits.
    items = [];
    let attempt = firstAttempt;
    while (todo.length) {
      const { attemptId, outcomes } = await this.sendOnce(todo, attempt);
      const whole = outcomes.find((o) => o.status === 'rejected' && o.wholeBatch);
      if (whole && todo.length > 1) {
        // The vendor refused the request without naming the record: split it in halves until the bad row is alone.
        const split = { outcome: 'split' as const, o: whole };
        this.record(this.requestRows(todo, attemptId, attempt, this.deps.clock.now(), () => split));
        const mid = Math.ceil(todo.length / 2);
        await this.deliver(todo.slice(0, mid), attempt);
        await this.deliver(todo.slice(mid), attempt);
        return;
      }
      const { rows, retry, retryAfter } = this.settle(todo, outcomes, attemptId, attempt);
      todo = retry;
      // Every outcome row of an attempt goes in one statement: recovery reads one present as all present.
      this.record(rows);
      this.progress();
      if (!retry.length) return;
      if (retryAfter > 0) {
        // Retry-After speaks for the account: hold every request to this destination, not just this batch.
        this.throttle.pause(retryAfter);
        this.s.logger.warn({ retry_after_ms: retryAfter, records: retry.length }, 'destination asked to wait');
      } else {
        const delay = backoffMs(attempt, this.backoff);
        this.s.logger.warn({ delay_ms: delay, records: retry.length, attempt }, 'retrying after backoff');
        await this.deps.clock.sleep(delay);
      }
      attempt++;
    }
  }
}
