/**
 * Streaming syncs: sends a canonical event to every `cadence: stream` sync whose destination accepts events,
 * within seconds of collection, instead of waiting for the models. Used by the Pub/Sub push function
 * (functions/stream-sync), by `tagpipe stream-sync`, and per event by the local stack's embedded bus.
 *
 * The event becomes a row shaped like `marts.conversions` (docs/marts.md), so the same destination transform
 * serves batch and stream. Every send is in the delivery ledger (pending intent, then outcome), keyed like the
 * batch path: a redelivered message whose key is already delivered, rejected or unknown is acknowledged without
 * sending. A retryable failure makes `handle` report `retry` (the push endpoint answers 503 so Pub/Sub redelivers,
 * dead-lettering after the subscription's max attempts); a permanent rejection is recorded and acknowledged.
 */
import type { Logger } from 'pino';
import type { Config } from '../core/config';
import { allows, purposesFor } from '../core/consent';
import { systemClock, type Clock, type HttpClient, type Outcome, type SyncRecord } from '../core/destination';
import { RetryableError } from '../core/errors';
import { checkCanonicalEvent, formatIssues, type CanonicalEvent } from '../core/event';
import { createHttpClient, DEFAULT_USER_AGENT } from '../core/http';
import { localPaths } from '../warehouse/types';
import type { SyncWarehouse } from '../warehouse/duckdb';
import { parseSyncs, type SyncDefinition } from './config';
import { loadDestination, resolveDestinationConfig, type DestinationRegistry } from './engine';
import { rowConsentBasis, stateKey } from './executor';
import { ensureState, Ledger, type LedgerOutcome, type LedgerRow } from './ledger';
import { createOutboxHttpClient } from './outbox';
import { dialectFor } from './sql';

/** The conversion type the marts would give an event name (the `conversion_events` defaults). */
export function conversionType(name: string): 'purchase' | 'lead' | 'signup' | 'other' {
  const n = name.toLowerCase().replace(/[\s_]+/g, ' ');
  if (n === 'purchase' || n === 'order completed') return 'purchase';
  if (n === 'generate lead' || n === 'lead') return 'lead';
  if (n === 'sign up' || n === 'signed up' || n === 'complete registration') return 'signup';
  return 'other';
}

const num = (v: unknown): number | null =>
  typeof v === 'number' && Number.isFinite(v)
    ? v
    : typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))
      ? Number(v)
      : null;
const str = (v: unknown): string | null =>
  typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : null;

/** A canonical event as a `marts.conversions` row. */
export function eventToConversionRow(event: CanonicalEvent): Record<string, unknown> {
  const p = event.properties as Record<string, unknown>;
  const ids = event.context.click_ids ?? {};
  const transactionId = str(p.transaction_id) ?? str(p.order_id);
  const items = Array.isArray(p.items) ? p.items : Array.isArray(p.products) ? p.products : null;
  const currency = str(p.currency);
  return {
    conversion_key: transactionId ?? event.event_id,
    event_id: event.event_id,
    event_name: event.event ?? event.type,
    conversion_type: conversionType(event.event ?? ''),
    occurred_at: event.timestamp,
    transaction_id: transactionId,
    value: num(p.value) ?? num(p.revenue) ?? num(p.total),
    currency: currency ? currency.toUpperCase() : null,
    items,
    person_id: null,
    user_id: event.user_id ?? null,
    anonymous_id: event.anonymous_id ?? null,
    session_id: event.context.session?.id ?? null,
    email_sha256: event.identifiers.email_sha256 ?? null,
    phone_sha256: event.identifiers.phone_sha256 ?? null,
    gclid: ids.gclid ?? null,
    gbraid: ids.gbraid ?? null,
    wbraid: ids.wbraid ?? null,
    fbc: ids.fbc ?? null,
    fbp: ids.fbp ?? null,
    ttclid: ids.ttclid ?? null,
    msclkid: ids.msclkid ?? null,
    li_fat_id: ids.li_fat_id ?? null,
    ip: event.context.ip ?? null,
    user_agent: event.context.user_agent ?? null,
    page_url: event.context.page?.url ?? null,
    country: event.context.geo?.country ?? null,
    consent_analytics: event.consent.analytics,
    consent_ads: event.consent.ads,
    consent_ad_user_data: event.consent.ad_user_data,
    consent_ad_personalization: event.consent.ad_personalization,
    consent_source: event.consent.source,
  };
}

export type StreamStatus = 'sent' | 'rejected' | 'retry' | 'duplicate' | 'skipped' | 'unknown';

export interface StreamSyncResult {
  sync: string;
  status: StreamStatus;
  reason?: string;
  retryAfterMs?: number;
  /** What was sent and answered (for the debug view): URL without its query (tokens sit there), bodies capped. */
  exchange?: { method: string; url: string; body: string | null; status: number | null; response: string | null };
}

/** Longest request or response body kept for the debug view. */
const EXCHANGE_BODY_CHARS = 4000;

/** Wraps a client so the first request of one send, and its answer, can be shown in the debug view. */
function recording(http: HttpClient): { http: HttpClient; exchange: () => StreamSyncResult['exchange'] } {
  let seen: StreamSyncResult['exchange'];
  return {
    http: async (request) => {
      const entry = {
        method: request.method,
        url: request.url.split('?')[0],
        body: request.body === undefined ? null : String(request.body).slice(0, EXCHANGE_BODY_CHARS),
        status: null as number | null,
        response: null as string | null,
      };
      seen ??= entry;
      const response = await http(request);
      entry.status = response.status;
      entry.response = response.body.slice(0, EXCHANGE_BODY_CHARS);
      return response;
    },
    exchange: () => seen,
  };
}

export interface StreamSyncDeps {
  logger: Logger;
  clock?: Clock;
  registry?: DestinationRegistry;
  /** Real HTTP transport; defaults to createHttpClient. */
  http?: HttpClient;
  /** Opens the warehouse holding the ledger for one handled event (DuckDB: the file is held only meanwhile). */
  openWarehouse: () => Promise<SyncWarehouse>;
  /** Close what openWarehouse returned after each event (default true; false when it is shared). */
  closeWarehouse?: boolean;
  dryRun?: boolean;
}

export interface StreamSync {
  readonly syncs: SyncDefinition[];
  /** Sends one event to every matching stream sync. */
  handle(event: CanonicalEvent, messageId?: string): Promise<StreamSyncResult[]>;
  /** A Pub/Sub push request body → HTTP status and a JSON body. */
  handlePush(
    body: unknown,
  ): Promise<{ status: number; body: Record<string, unknown>; headers?: Record<string, string> }>;
}

interface Prepared {
  sync: SyncDefinition;
  destination: ReturnType<typeof loadDestination>;
  config: unknown;
  dryRun: boolean;
  http: HttpClient;
  purposes: ReturnType<typeof purposesFor>;
  key: string;
}

/** Builds the stream handler for every enabled `cadence: stream` sync in the config. */
export function createStreamSync(config: Config, deps: StreamSyncDeps): StreamSync {
  const clock = deps.clock ?? systemClock;
  const syncs = parseSyncs(config).filter((s) => s.enabled && s.cadence === 'stream');
  const realHttp = deps.http ?? createHttpClient({ timeoutMs: 10_000, userAgent: DEFAULT_USER_AGENT });
  const prepared: Prepared[] = syncs.map((sync) => {
    const destination = loadDestination(sync.destination, deps.registry);
    if (!destination.capabilities.includes('events')) {
      throw new Error(
        `sync ${sync.name}: cadence stream needs a destination that accepts events; ${destination.name} does not`,
      );
    }
    const resolved = resolveDestinationConfig(destination, sync.destinationConfig, sync.name);
    const dryRun = Boolean(deps.dryRun || sync.dryRun || resolved.missing.length);
    return {
      sync,
      destination,
      config: resolved.config,
      dryRun,
      http: dryRun
        ? createOutboxHttpClient({
            outboxDir: localPaths(config.dataDir).outbox,
            sync: sync.name,
            destination: destination.name,
            clock,
          })
        : realHttp,
      purposes: purposesFor([...destination.requiredConsent, ...sync.consent]),
      key: stateKey(sync, { dryRun, validate: sync.validate }),
    };
  });
  const stateDataset = config.warehouse.stateDataset;
  let stateReady = false;

  async function sendOne(
    wh: SyncWarehouse,
    p: Prepared,
    event: CanonicalEvent,
    messageId: string | undefined,
  ): Promise<StreamSyncResult> {
    const { sync, destination } = p;
    const logger = deps.logger.child({ sync: sync.name, destination: destination.name, event_id: event.event_id });
    if (event.type !== 'track' || (sync.events.length > 0 && !sync.events.includes(event.event ?? ''))) {
      return { sync: sync.name, status: 'skipped', reason: 'event not selected by this sync' };
    }
    if (!allows(event.consent, p.purposes)) {
      return { sync: sync.name, status: 'skipped', reason: `no consent for ${p.purposes.join('+')}` };
    }
    const row = eventToConversionRow(event);
    const key = String(row[sync.key] ?? event.event_id);
    const d = dialectFor(wh);
    const ledger = new Ledger(wh, d, stateDataset);
    // Pub/Sub delivers at least once: look the key up before sending.
    const history = await wh.query<{ outcome: LedgerOutcome; attempt_id: string; attempts: number }>(
      `SELECT outcome, attempt_id, attempts FROM ${ledger.table} WHERE sync = @sync AND ${d.col('key')} = @key`,
      { sync: p.key, key },
    );
    if (history.some((h) => h.outcome === 'ok' || h.outcome === 'rejected' || h.outcome === 'unknown')) {
      return { sync: sync.name, status: 'duplicate' };
    }
    const resolved = new Set(history.filter((h) => h.outcome !== 'pending').map((h) => h.attempt_id));
    const open = history.filter((h) => h.outcome === 'pending' && !resolved.has(h.attempt_id));
    const attempts = history.filter((h) => h.outcome === 'pending').length + 1;
    const base = (attemptId: string, outcome: LedgerOutcome, o?: Outcome, note?: string): LedgerRow => ({
      run_id: 'stream',
      attempt_id: attemptId,
      sync: p.key,
      destination: destination.name,
      key,
      event_id: event.event_id,
      action: 'send',
      row_hash: null,
      outcome,
      http_status: o?.httpStatus ?? null,
      vendor_error:
        note ?? (o && o.status !== 'ok' ? (o.vendorCode ? `${o.vendorCode}: ${o.reason}` : o.reason) : null),
      attempts,
      consent_basis: rowConsentBasis(row, p.purposes),
      request_id: o && o.status === 'ok' ? (o.requestId ?? null) : null,
      at: clock.now(),
    });
    if (open.length) {
      // A previous delivery died mid-send. Resend only where the vendor deduplicates.
      if ((destination.dedup ?? 'none') === 'none') {
        await ledger.write(
          open.map((o) =>
            base(
              o.attempt_id,
              'unknown',
              undefined,
              'the process ended while this request was in flight; not re-sent (the destination cannot deduplicate)',
            ),
          ),
        );
        return { sync: sync.name, status: 'unknown' };
      }
      await ledger.write(
        open.map((o) =>
          base(
            o.attempt_id,
            'interrupted',
            undefined,
            'the process ended while this request was in flight; sent again (the destination deduplicates)',
          ),
        ),
      );
    }
    const attemptId = `stream:${messageId ?? event.event_id}:${attempts}`;
    await ledger.write([base(attemptId, 'pending')]);
    const record: SyncRecord = { key, action: 'send', row };
    const recorder = recording(p.http);
    let outcome: Outcome;
    try {
      const outcomes = await destination.send([record], {
        config: p.config,
        http: recorder.http,
        logger,
        clock,
        dryRun: p.dryRun,
        validate: sync.validate,
      });
      outcome = outcomes[0] ?? { status: 'retry', reason: `${destination.name} returned no outcome` };
    } catch (error) {
      outcome = {
        status: 'retry',
        reason: (error as Error).message,
        retryAfterMs: error instanceof RetryableError ? error.retryAfterMs : undefined,
      };
    }
    if (outcome.status === 'ok') {
      await ledger.write([base(attemptId, 'ok', outcome)]);
      return { sync: sync.name, status: 'sent', exchange: recorder.exchange() };
    }
    if (outcome.status === 'rejected') {
      await ledger.write([base(attemptId, 'rejected', outcome)]);
      logger.warn({ reason: outcome.reason }, 'destination rejected the event');
      return { sync: sync.name, status: 'rejected', reason: outcome.reason, exchange: recorder.exchange() };
    }
    await ledger.write([base(attemptId, 'retry', outcome)]);
    return {
      sync: sync.name,
      status: 'retry',
      reason: outcome.reason,
      retryAfterMs: outcome.retryAfterMs,
      exchange: recorder.exchange(),
    };
  }

  async function handle(event: CanonicalEvent, messageId?: string): Promise<StreamSyncResult[]> {
    if (prepared.length === 0) return [];
    const wh = await deps.openWarehouse();
    try {
      if (!stateReady) {
        await ensureState(wh, dialectFor(wh), stateDataset);
        stateReady = deps.closeWarehouse === false;
      }
      const results: StreamSyncResult[] = [];
      for (const p of prepared) results.push(await sendOne(wh, p, event, messageId));
      return results;
    } finally {
      if (deps.closeWarehouse !== false) await wh.close();
    }
  }

  async function handlePush(body: unknown) {
    const message = (body as { message?: { data?: unknown; messageId?: unknown; message_id?: unknown } } | null)
      ?.message;
    if (!message || typeof message.data !== 'string') {
      // Not a push envelope: a client error, and nothing Pub/Sub would redeliver usefully.
      return {
        status: 400,
        body: { error: 'expected a Pub/Sub push envelope {message: {data, attributes, messageId}, subscription}' },
      };
    }
    const messageId = String(message.messageId ?? message.message_id ?? '');
    let event: CanonicalEvent;
    try {
      const parsed = checkCanonicalEvent(JSON.parse(Buffer.from(message.data, 'base64').toString('utf8')));
      if (!parsed.success) throw new Error(formatIssues(parsed.error).join('; '));
      event = parsed.data;
    } catch (error) {
      // A message that can never parse is acknowledged: redelivery cannot fix it.
      deps.logger.error({ message_id: messageId, err: error }, 'push message is not a canonical event; acknowledged');
      return { status: 204, body: { ok: false, error: `not a canonical event: ${(error as Error).message}` } };
    }
    const results = await handle(event, messageId);
    const retry = results.filter((r) => r.status === 'retry');
    if (retry.length) {
      const wait = Math.max(0, ...retry.map((r) => r.retryAfterMs ?? 0));
      return {
        status: 503,
        body: { ok: false, results },
        headers: wait ? { 'retry-after': String(Math.ceil(wait / 1000)) } : undefined,
      };
    }
    return { status: 200, body: { ok: true, results } };
  }

  return { syncs, handle, handlePush };
}
