/**
 * The destination interface (DESIGN.md, contract 5). Each destination folder exports one `Destination`.
 * Destinations get side effects through `ctx` only: they never import an HTTP client or read process.env.
 */
import type { Logger } from 'pino';
import type { z } from 'zod';

export type Capability = 'events' | 'audience_add' | 'audience_remove' | 'record_upsert';

/** Consent purposes a destination needs before a row may be sent. */
export type ConsentPurpose = 'analytics' | 'ads' | 'ad_user_data' | 'ad_personalization';

export interface DestinationLimits {
  /** Most records in one request. */
  maxBatchSize: number;
  /** Largest request body in bytes. */
  maxPayloadBytes?: number;
  /** Requests per second sustained (token bucket), when the vendor documents one. */
  requestsPerSecond?: number;
  /** Requests in flight at once. */
  maxConcurrency?: number;
  /** Oldest event the vendor accepts, in seconds. */
  maxEventAgeSeconds?: number;
}

export type Outcome =
  | { status: 'ok'; requestId?: string; httpStatus?: number }
  | { status: 'retry'; reason: string; retryAfterMs?: number; httpStatus?: number; vendorCode?: string }
  | {
      status: 'rejected';
      reason: string;
      httpStatus?: number;
      vendorCode?: string;
      /**
       * The vendor refused the whole request without saying which record was at fault (Meta, TikTok, Data Manager):
       * the executor bisects the batch to find it, so one bad row does not sink its neighbours.
       */
      wholeBatch?: boolean;
    };

/** What a sync hands a destination: one row of a mart, plus the action to take. */
export interface SyncRecord {
  /** Stable key of the row (event_id for events, person/audience key for audiences, record key for upserts). */
  key: string;
  action: 'send' | 'add' | 'remove' | 'upsert';
  /** The mart row, after the sync's field mapping. */
  row: Record<string, unknown>;
}

export interface HttpRequest {
  method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  timeoutMs?: number;
}

export interface HttpResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
  /** Parsed JSON body, when it is JSON. */
  json?: unknown;
}

/** Performs HTTP; in dry-run it records the request in the outbox and answers a synthetic 200. */
export type HttpClient = (request: HttpRequest) => Promise<HttpResponse>;

export interface Clock {
  now(): Date;
  sleep(ms: number): Promise<void>;
}

export interface DestinationContext<C> {
  config: C;
  http: HttpClient;
  logger: Logger;
  clock: Clock;
  dryRun: boolean;
  /** Validation mode: GA4 /debug/mp/collect, Meta test_event_code, Data Manager validateOnly. */
  validate?: boolean;
}

/**
 * What the vendor finally made of one request it accepted asynchronously (Data Manager answers `{ requestId }` and
 * processes later): `success` every record, `partial` some records failed, `failure` none went in, `pending`
 * still processing when the check gave up (checked again on the next run), `unknown` the vendor does not know the
 * id (or its status).
 */
export interface RequestVerification {
  requestId: string;
  status: 'success' | 'partial' | 'failure' | 'pending' | 'unknown';
  /** Records the vendor counted in the request, when it says. */
  records?: number;
  /** Records that failed, when it says. */
  failedRecords?: number;
  /** The vendor's reasons, e.g. `PROCESSING_ERROR_REASON_EVENT_TOO_OLD x3`. */
  errors: string[];
  warnings?: string[];
}

export interface Destination<C = unknown> {
  name: string;
  description: string;
  configSchema: z.ZodType<C>;
  capabilities: Capability[];
  limits: DestinationLimits | ((config: C) => DestinationLimits);
  /** Purposes needed for any row to be sent (the sync may add more). */
  requiredConsent: ConsentPurpose[];
  /**
   * How the vendor treats a request sent twice, which decides crash recovery: a batch whose outcome was never
   * recorded (the process died mid-send) is re-sent when the vendor deduplicates (`event_id`: on the event id, e.g.
   * Meta CAPI, GA4 transaction_id; `idempotent`: the operation itself, e.g. audience add/remove, record upsert by
   * key), and otherwise marked `unknown` in the ledger for an operator to review. Default 'none'.
   */
  dedup?: 'event_id' | 'idempotent' | 'none';
  /** Environment variable names holding secrets for this destination (documented in its README). */
  secrets?: string[];
  /** Returns exactly one outcome per record, in order. */
  send(batch: SyncRecord[], ctx: DestinationContext<C>): Promise<Outcome[]>;
  /**
   * Optional, for vendors that accept requests and process them later: after a run has delivered, the executor
   * passes the request ids its `ok` outcomes carried (plus ids still `pending` from earlier runs) and records one
   * verification per id. Polling, backoff and its time bound are the destination's own. Not called in dry-run or
   * validation mode.
   */
  verify?(requestIds: string[], ctx: DestinationContext<C>): Promise<RequestVerification[]>;
}

export const systemClock: Clock = {
  now: () => new Date(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};
