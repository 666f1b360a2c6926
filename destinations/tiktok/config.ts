/**
 * TikTok Events API v1.3: config schema and limits in one place
 * (https://business-api.tiktok.com/portal/docs?id=1771100865818625).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

/** 1,000 events per call: third-party documentation; unverified in TikTok's own reference. */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** Code 40100 (rate limited) carries no Retry-After: wait this long. */
export const THROTTLE_BACKOFF_MS = 30_000;

/** Mart `conversion_type` → TikTok standard event; other rows keep their `event_name`. */
export const DEFAULT_EVENT_NAMES: Record<string, string> = {
  purchase: 'CompletePayment',
  lead: 'SubmitForm',
  signup: 'CompleteRegistration',
};

export const configSchema = z.object({
  /** Pixel code (web events): `event_source_id`. */
  pixelCode: z.string().min(1),
  /** Events API access token; env TIKTOK_ACCESS_TOKEN. */
  accessToken: z.string().min(1),
  endpoint: z.url().default('https://business-api.tiktok.com'),
  eventSource: z.enum(['web', 'app', 'offline', 'crm']).default('web'),
  /** Events Manager → Test Events; required in validate mode. */
  testEventCode: z.string().min(1).optional(),
  eventNames: z.record(z.string(), z.string().min(1)).default({}),
  /** Sends `limited_data_use: true` on every event (US state privacy laws). */
  limitedDataUse: z.boolean().optional(),
  batchSize: z.number().int().min(1).max(MAX_EVENTS_PER_REQUEST).default(MAX_EVENTS_PER_REQUEST),
  timeoutMs: z.number().int().positive().default(10_000),
});

export type TiktokConfig = z.infer<typeof configSchema>;

export const SECRETS = ['TIKTOK_ACCESS_TOKEN'];

export function limits(config: TiktokConfig): DestinationLimits {
  return { maxBatchSize: config.batchSize };
}
