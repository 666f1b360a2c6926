/**
 * Helpers every destination shares: reading mart values (DuckDB and BigQuery hand timestamps and JSON over in
 * different shapes), the prepare → chunk → send loop that keeps one outcome per record in order, and the outcome
 * constructors for HTTP answers every vendor shares (network failure, 429, 5xx).
 */
import { RetryableError, parseRetryAfter } from '../src/core/errors';
import type { HttpResponse, Outcome } from '../src/core/destination';
import { hashFor, isSha256Hex, type Variant } from './pii';

/** A record after local validation: its request piece, or why it can never be sent. */
export type Prepared<T> = { ok: true; value: T } | { ok: false; reason: string };

export const accept = <T>(value: T): Prepared<T> => ({ ok: true, value });
export const refuse = <T = never>(reason: string): Prepared<T> => ({ ok: false, reason });

/**
 * Sends the valid records in chunks of `size` and fills locally refused ones with `rejected` outcomes, keeping
 * one outcome per record in the input order. A thrown `RetryableError` (network, timeout) becomes `retry` for its
 * chunk; anything else is a bug and propagates.
 */
export async function sendPrepared<T>(
  prepared: Prepared<T>[],
  size: number,
  sendChunk: (values: T[]) => Promise<Outcome[]>,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array<Outcome>(prepared.length);
  const pending: { index: number; value: T }[] = [];
  prepared.forEach((item, index) => {
    if (item.ok) pending.push({ index, value: item.value });
    else outcomes[index] = { status: 'rejected', reason: item.reason, vendorCode: 'local_validation' };
  });
  for (const part of chunk(pending, size)) {
    let results: Outcome[];
    try {
      results = await sendChunk(part.map((p) => p.value));
    } catch (error) {
      if (!(error instanceof RetryableError)) throw error;
      results = part.map(() => ({ status: 'retry', reason: error.message, retryAfterMs: error.retryAfterMs }));
    }
    if (results.length !== part.length) {
      throw new Error(`destination returned ${results.length} outcomes for ${part.length} records`);
    }
    part.forEach((p, i) => (outcomes[p.index] = results[i]));
  }
  return outcomes;
}

/**
 * Like `sendPrepared`, but records go to different requests by group (audience and add/remove, object type…):
 * each group is chunked on its own, outcomes keep the input order.
 */
export async function sendGrouped<T>(
  prepared: Prepared<{ group: string; value: T }>[],
  size: number,
  sendChunk: (group: string, values: T[]) => Promise<Outcome[]>,
): Promise<Outcome[]> {
  const outcomes: Outcome[] = new Array<Outcome>(prepared.length);
  const groups = new Map<string, Prepared<T>[]>();
  const positions = new Map<string, number[]>();
  prepared.forEach((item, index) => {
    if (!item.ok) {
      outcomes[index] = { status: 'rejected', reason: item.reason, vendorCode: 'local_validation' };
      return;
    }
    const list = groups.get(item.value.group) ?? [];
    const where = positions.get(item.value.group) ?? [];
    list.push(accept(item.value.value));
    where.push(index);
    groups.set(item.value.group, list);
    positions.set(item.value.group, where);
  });
  for (const [group, list] of groups) {
    const results = await sendPrepared(list, size, (values) => sendChunk(group, values));
    const where = positions.get(group) as number[];
    results.forEach((outcome, i) => (outcomes[where[i]] = outcome));
  }
  return outcomes;
}

export function chunk<T>(items: T[], size: number): T[][] {
  const parts: T[][] = [];
  for (let i = 0; i < items.length; i += size) parts.push(items.slice(i, i + size));
  return parts;
}

export type RetryOutcome = Extract<Outcome, { status: 'retry' }>;

export const times = (n: number, outcome: Outcome): Outcome[] => Array.from({ length: n }, () => ({ ...outcome }));

/**
 * The dry-run outbox answers every request with a synthetic `200 {}` marked `x-tagpipe-dry-run`: nothing was
 * sent, so there is no vendor answer to read; the records count as delivered to the outbox.
 */
export function dryRunOutcomes(response: HttpResponse, count: number): Outcome[] | undefined {
  return response.headers['x-tagpipe-dry-run']
    ? times(count, { status: 'ok', httpStatus: response.status, requestId: 'dry-run' })
    : undefined;
}

/** 429 and 5xx: retry, honouring Retry-After. */
export function retryFromResponse(response: HttpResponse, reason: string, vendorCode?: string): RetryOutcome {
  return {
    status: 'retry',
    reason,
    httpStatus: response.status,
    retryAfterMs: parseRetryAfter(response.headers['retry-after']),
    ...(vendorCode ? { vendorCode } : {}),
  };
}

/** Truncated response text for outcome reasons (never the request: it carries PII). */
export function excerpt(text: string, max = 300): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Consent columns ride along with every row the sync engine hands over (so each send records its consent
 * basis), even when the sync maps fields. CRM destinations leave them out of the properties they write.
 */
export const CONSENT_COLUMNS = new Set([
  'consent_analytics',
  'consent_ads',
  'consent_ad_user_data',
  'consent_ad_personalization',
  'consent_source',
]);

// ---- reading mart values ----

/** A non-empty string (numbers and bigints are stringified), else undefined. */
export function text(row: Record<string, unknown>, key: string): string | undefined {
  const value = row[key];
  if (typeof value === 'string') return value.trim() === '' ? undefined : value.trim();
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  return undefined;
}

export function numeric(row: Record<string, unknown>, key: string): number | undefined {
  const value = row[key];
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number(value);
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return undefined;
}

export function boolean(row: Record<string, unknown>, key: string): boolean | undefined {
  const value = row[key];
  if (typeof value === 'boolean') return value;
  if (value === 'true' || value === 1) return true;
  if (value === 'false' || value === 0) return false;
  return undefined;
}

/**
 * A timestamp from a Date, an ISO string, DuckDB's `YYYY-MM-DD HH:MM:SS[.ffffff]` (UTC), a BigQuery
 * `{ value }` wrapper, or epoch milliseconds.
 */
export function timestamp(row: Record<string, unknown>, key: string): Date | undefined {
  return toDate(row[key]);
}

export function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  if (isObject(value) && typeof value.value === 'string') return toDate(value.value);
  if (typeof value === 'number') return Number.isFinite(value) ? new Date(value) : undefined;
  if (typeof value !== 'string' || value.trim() === '') return undefined;
  let iso = value.trim().replace(' ', 'T');
  // Microsecond precision does not parse everywhere; milliseconds do.
  iso = iso.replace(/(\.\d{3})\d+/, '$1');
  if (!/(Z|[+-]\d{2}:?\d{2})$/.test(iso)) iso += 'Z';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

/** A JSON column: already parsed (DuckDB JSON → string, BigQuery JSON → string or object), else parsed here. */
export function json(row: Record<string, unknown>, key: string): unknown {
  const value = row[key];
  if (typeof value !== 'string') return value ?? undefined;
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
}

export interface Item {
  item_id?: string;
  item_name?: string;
  price?: number;
  quantity?: number;
  item_category?: string;
}

/** The conversions mart `items` column as a list of items (anything that is not an object is skipped). */
export function items(row: Record<string, unknown>): Item[] {
  const value = json(row, 'items');
  if (!Array.isArray(value)) return [];
  return value.filter(isObject).map((raw) => {
    const item: Item = {};
    const id = text(raw, 'item_id');
    const name = text(raw, 'item_name');
    const price = numeric(raw, 'price');
    const quantity = numeric(raw, 'quantity');
    const category = text(raw, 'item_category');
    if (id !== undefined) item.item_id = id;
    if (name !== undefined) item.item_name = name;
    if (price !== undefined) item.price = price;
    if (quantity !== undefined) item.quantity = quantity;
    if (category !== undefined) item.item_category = category;
    return item;
  });
}

/** Drops undefined values (and empty arrays/objects) so request bodies carry only what the row has. */
export function compact<T extends Record<string, unknown>>(value: T): T {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined || v === null) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (isObject(v) && Object.keys(v).length === 0) continue;
    out[key] = v;
  }
  return out as T;
}

/** Mart hashed identifiers: lowercase SHA-256 hex (docs/marts.md). Undefined when absent; error text when malformed. */
export function hashedColumn(row: Record<string, unknown>, key: string): { value?: string; error?: string } {
  const value = text(row, key);
  if (value === undefined) return {};
  if (!isSha256Hex(value)) return { error: `${key} is not a SHA-256 hex digest` };
  return { value: value.toLowerCase() };
}

/**
 * Whether the mart's canonical phone hash (E.164 with `+`) is what the vendor hashes. Meta hashes digits without
 * the `+`, so a canonical phone hash can never match there and is left out.
 */
const CANONICAL_PHONE_MATCHES: Record<Variant, boolean> = { meta: false, ga4: true, google_dm: true, tiktok: true };

/**
 * The vendor's hash of a row's email or phone. A plaintext `email` / `phone` column (when the sync maps one in) is
 * normalized and hashed by the PII kit with the vendor's own rules; otherwise the mart's canonical `*_sha256`
 * passes through when it is what the vendor would compute (also when the plaintext is unusable). A malformed hash
 * column is an error.
 */
export function identifierHash(
  row: Record<string, unknown>,
  kind: 'email' | 'phone',
  variant: Variant,
): { value?: string; error?: string } {
  const plain = text(row, kind);
  const fromPlain = plain === undefined ? undefined : hashFor(kind, plain, variant);
  if (fromPlain !== undefined) return { value: fromPlain };
  const hashed = hashedColumn(row, `${kind}_sha256`);
  if (hashed.error || hashed.value === undefined) return hashed;
  if (kind === 'phone' && !CANONICAL_PHONE_MATCHES[variant]) return {};
  return hashed;
}
