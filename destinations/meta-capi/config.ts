/**
 * Meta Conversions API: config schema and every limit in one place
 * (https://developers.facebook.com/docs/marketing-api/conversions-api/).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

/** Up to 1,000 events per request (Conversions API "Send Requests" → batch requests). */
export const MAX_EVENTS_PER_REQUEST = 1000;
/** `event_time` may be at most 7 days old; one older event fails the whole request (Server Event Parameters). */
export const MAX_EVENT_AGE_SECONDS = 7 * 24 * 3600;
/** Meta documents no request size cap; its responses usually come in under 600 ms, batches take longer. */
export const DEFAULT_TIMEOUT_MS = 10_000;
/** Throttle codes (4, 17, 80003) carry no Retry-After: wait this long before the next try. */
export const THROTTLE_BACKOFF_MS = 60_000;

export const ACTION_SOURCES = [
  'website',
  'app',
  'email',
  'phone_call',
  'chat',
  'physical_store',
  'system_generated',
  'business_messaging',
  'other',
] as const;

/** Mart `conversion_type` → Meta standard event; rows of other types keep their own `event_name`. */
export const DEFAULT_EVENT_NAMES: Record<string, string> = {
  purchase: 'Purchase',
  lead: 'Lead',
  signup: 'CompleteRegistration',
};

export const configSchema = z.object({
  /** Dataset (pixel) id. */
  pixelId: z.string().regex(/^\d+$/, 'pixelId is the numeric dataset (pixel) id'),
  /** System-user access token; env META_CAPI_ACCESS_TOKEN. */
  accessToken: z.string().min(1),
  apiVersion: z
    .string()
    .regex(/^v\d+\.\d+$/)
    .default('v25.0'),
  /** Base URL override for proxies and tests. */
  endpoint: z.url().default('https://graph.facebook.com'),
  /** Sent with every request when set (Events Manager → Test Events); validate mode requires it. */
  testEventCode: z.string().min(1).optional(),
  actionSource: z.enum(ACTION_SOURCES).default('website'),
  /** Mart `conversion_type` or `event_name` → Meta event name; overrides DEFAULT_EVENT_NAMES. */
  eventNames: z.record(z.string(), z.string().min(1)).default({}),
  /** Limited Data Use: `["LDU"]` to flag events, `[]` to opt out explicitly; absent = not sent. */
  dataProcessingOptions: z.array(z.literal('LDU')).optional(),
  /** 1 = United States, 0 = let Meta geolocate. */
  dataProcessingOptionsCountry: z.number().int().optional(),
  /** 1000 = California, 0 = let Meta geolocate. */
  dataProcessingOptionsState: z.number().int().optional(),
  batchSize: z.number().int().min(1).max(MAX_EVENTS_PER_REQUEST).default(MAX_EVENTS_PER_REQUEST),
  timeoutMs: z.number().int().positive().default(DEFAULT_TIMEOUT_MS),
});

export type MetaCapiConfig = z.infer<typeof configSchema>;

export const SECRETS = ['META_CAPI_ACCESS_TOKEN'];

export function limits(config: MetaCapiConfig): DestinationLimits {
  return { maxBatchSize: config.batchSize, maxEventAgeSeconds: MAX_EVENT_AGE_SECONDS };
}
