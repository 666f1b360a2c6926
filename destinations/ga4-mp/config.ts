/**
 * GA4 Measurement Protocol: config schema and every documented limit in one place
 * (https://developers.google.com/analytics/devguides/collection/protocol/ga4/sending-events#limitations).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

export const LIMITS = {
  eventsPerRequest: 25,
  paramsPerEvent: 25,
  userProperties: 25,
  eventNameLength: 40,
  paramNameLength: 40,
  paramValueLength: 100,
  userPropertyNameLength: 24,
  userPropertyValueLength: 36,
  itemCustomParams: 10,
  /** "The post body must be smaller than 130kB." */
  bodyBytes: 130_000,
  /** timestamp_micros may be backdated up to 72 hours. */
  maxEventAgeSeconds: 72 * 3600,
} as const;

export const NAME_PATTERN = /^[A-Za-z][A-Za-z0-9_]*$/;
export const RESERVED_PREFIXES = ['google_', 'ga_', 'firebase_'];
/** Reserved event names (Measurement Protocol reference → Reserved names). */
export const RESERVED_EVENT_NAMES = new Set([
  'ad_activeview', 'ad_click', 'ad_exposure', 'ad_query', 'ad_reward', 'adunit_exposure', 'app_background',
  'app_clear_data', 'app_exception', 'app_install', 'app_remove', 'app_store_refund', 'app_update', 'app_upgrade',
  'dynamic_link_app_open', 'dynamic_link_app_update', 'dynamic_link_first_open', 'error', 'firebase_campaign',
  'firebase_in_app_message_action', 'firebase_in_app_message_dismiss', 'firebase_in_app_message_impression',
  'first_open', 'first_visit', 'in_app_purchase', 'notification_dismiss', 'notification_foreground',
  'notification_open', 'notification_receive', 'notification_send', 'os_update', 'screen_view', 'session_start',
  'user_engagement',
]); // prettier-ignore
export const RESERVED_PARAM_NAMES = new Set(['firebase_conversion']);
export const RESERVED_USER_PROPERTIES = new Set([
  'first_open_time', 'first_visit_time', 'last_deep_link_referrer', 'user_id', 'first_open_after_install',
]); // prettier-ignore

/** Mart `conversion_type` → GA4 recommended event; other rows keep `event_name` when it is a valid GA4 name. */
export const DEFAULT_EVENT_NAMES: Record<string, string> = {
  purchase: 'purchase',
  lead: 'generate_lead',
  signup: 'sign_up',
};

export const configSchema = z.object({
  measurementId: z.string().regex(/^G-[A-Z0-9]+$/, 'measurementId looks like G-XXXXXXX'),
  /** Measurement Protocol API secret (Admin → Data streams); env GA4_API_SECRET. */
  apiSecret: z.string().min(1),
  /** EU data processing: https://region1.google-analytics.com. */
  endpoint: z.url().default('https://www.google-analytics.com'),
  eventNames: z.record(z.string(), z.string()).default({}),
  /** Put on every event so GA4 counts the user active (Realtime/engagement reports need > 0). */
  engagementTimeMsec: z.number().int().min(0).default(1),
  validationBehavior: z.enum(['RELAXED', 'ENFORCE_RECOMMENDATIONS']).optional(),
  batchSize: z.number().int().min(1).max(LIMITS.eventsPerRequest).default(LIMITS.eventsPerRequest),
  timeoutMs: z.number().int().positive().default(10_000),
});

export type Ga4Config = z.infer<typeof configSchema>;

export const SECRETS = ['GA4_API_SECRET'];

export function limits(config: Ga4Config): DestinationLimits {
  return {
    maxBatchSize: config.batchSize,
    maxPayloadBytes: LIMITS.bodyBytes,
    maxEventAgeSeconds: LIMITS.maxEventAgeSeconds,
  };
}
