/**
 * Webhook body and signature (pure). The body is `{ sent_at, records: [{ key, action, data }] }`; the signature
 * is `sha256=` + hex HMAC-SHA256 over `${timestamp}.${body}`, so a captured request cannot be replayed later with
 * a new timestamp.
 */
import crypto from 'node:crypto';
import type { SyncRecord } from '../../src/core/destination';
import { SIGNATURE_TOLERANCE_SECONDS } from './config';

export interface WebhookRecord {
  key: string;
  action: SyncRecord['action'];
  data: Record<string, unknown>;
}

export function toWebhookRecord(record: SyncRecord): WebhookRecord {
  return { key: record.key, action: record.action, data: record.row };
}

/** JSON with BIGINT columns (DuckDB) as numbers when safe, else strings; Dates as ISO strings. */
export function serializeBody(records: WebhookRecord[], sentAt: Date): string {
  return JSON.stringify({ sent_at: sentAt.toISOString(), records }, (_key, value: unknown) => {
    if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
    return value;
  });
}

export function sign(secret: string, timestamp: number, body: string): string {
  return `sha256=${crypto.createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

/** For receivers: checks the signature in constant time and the timestamp against the tolerance. */
export function verifySignature(
  secret: string,
  timestampHeader: string,
  body: string,
  signatureHeader: string,
  now = new Date(),
  toleranceSeconds = SIGNATURE_TOLERANCE_SECONDS,
): boolean {
  const timestamp = Number(timestampHeader);
  if (!Number.isInteger(timestamp) || Math.abs(now.getTime() / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(sign(secret, timestamp, body));
  const given = Buffer.from(signatureHeader);
  return expected.length === given.length && crypto.timingSafeEqual(expected, given);
}
