/**
 * Canonical event v1: the one shape every protocol is parsed into and every table is built from.
 * Segment-spec shaped (see DESIGN.md, contract 1). Changing it needs a schema_version bump.
 */
import { z } from 'zod';

export const SCHEMA_VERSION = 1;

export const EVENT_TYPES = ['track', 'page', 'screen', 'identify', 'group', 'alias'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export const CONSENT_SOURCES = ['gcm', 'tcf', 'explicit', 'default'] as const;
export type ConsentSource = (typeof CONSENT_SOURCES)[number];

export const PROTOCOLS = ['segment', 'ga4', 'pixel', 'sdk'] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Keys that must never reach an object merge: a payload carrying them is quarantined. */
export const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

const isoDate = z.string().refine((s) => !Number.isNaN(Date.parse(s)), { message: 'expected an ISO-8601 timestamp' });
const optStr = z.string().nullish();
const jsonObject = z.record(z.string(), z.unknown());

export const tcfSchema = z.object({
  tc_string: z.string(),
  gdpr_applies: z.boolean().nullish(),
  cmp_id: z.number().int().nullish(),
  /** IAB purposes with consent (1..11). */
  purposes: z.array(z.number().int()),
  /** IAB purposes with legitimate interest. */
  legitimate_interests: z.array(z.number().int()).optional(),
  /** Google's vendor id 755 consent, when the string says. */
  google_vendor: z.boolean().nullish(),
});
export type TcfConsent = z.infer<typeof tcfSchema>;

export const consentSchema = z.object({
  analytics: z.boolean(),
  ads: z.boolean(),
  ad_user_data: z.boolean(),
  ad_personalization: z.boolean(),
  source: z.enum(CONSENT_SOURCES),
  tcf: tcfSchema.optional(),
  /** ISO region the default came from, when a regional default decided. */
  region: optStr,
  gpc: z.boolean().optional(),
  /** Google Consent Mode `dma` (1: the request falls under the EU Digital Markets Act), kept as sent. */
  dma: z.boolean().optional(),
});
export type Consent = z.infer<typeof consentSchema>;

export const clickIdsSchema = z.object({
  gclid: optStr,
  gbraid: optStr,
  wbraid: optStr,
  fbclid: optStr,
  fbc: optStr,
  fbp: optStr,
  ttclid: optStr,
  msclkid: optStr,
  li_fat_id: optStr,
});
export type ClickIds = z.infer<typeof clickIdsSchema>;

export const contextSchema = z.object({
  page: z
    .object({ url: optStr, path: optStr, referrer: optStr, title: optStr, search: optStr, host: optStr })
    .partial()
    .optional(),
  user_agent: optStr,
  /** After the IP policy: truncated, or absent. */
  ip: optStr,
  locale: optStr,
  timezone: optStr,
  campaign: z
    .object({ name: optStr, source: optStr, medium: optStr, term: optStr, content: optStr, id: optStr })
    .partial()
    .optional(),
  click_ids: clickIdsSchema.partial().optional(),
  geo: z.object({ country: optStr, region: optStr, city: optStr }).partial().optional(),
  device: z
    .object({
      type: optStr,
      vendor: optStr,
      model: optStr,
      browser: optStr,
      browser_version: optStr,
      os: optStr,
      os_version: optStr,
      is_bot: z.boolean().optional(),
    })
    .partial()
    .optional(),
  library: z.object({ name: optStr, version: optStr }).partial().optional(),
  screen: z.object({ width: z.number().nullish(), height: z.number().nullish() }).partial().optional(),
  /** GA4 session fields (sid, sct, seg) and other protocol extras that models read. */
  session: z.object({ id: optStr, number: z.number().nullish(), engaged: z.boolean().nullish() }).partial().optional(),
  /** Group id for `group` calls, previous id for `alias` calls. */
  group_id: optStr,
  previous_id: optStr,
});
export type EventContext = z.infer<typeof contextSchema>;

export const identifiersSchema = z.object({
  email_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullish(),
  phone_sha256: z
    .string()
    .regex(/^[0-9a-f]{64}$/)
    .nullish(),
});

export const canonicalEventSchema = z
  .object({
    event_id: z.string().min(1).max(200),
    type: z.enum(EVENT_TYPES),
    /** Event name for track; page/screen name for page and screen; null otherwise. */
    event: z.string().max(200).nullish(),
    anonymous_id: z.string().max(200).nullish(),
    user_id: z.string().max(200).nullish(),
    /** Client time, corrected for clock skew (received_at - (sent_at - timestamp)). */
    timestamp: isoDate,
    sent_at: isoDate.nullish(),
    received_at: isoDate,
    /** Client time as sent, before correction. */
    original_timestamp: isoDate.nullish(),
    source: z.object({ id: z.string(), protocol: z.enum(PROTOCOLS) }),
    context: contextSchema,
    properties: jsonObject,
    traits: jsonObject,
    consent: consentSchema,
    identifiers: identifiersSchema,
    schema_version: z.literal(SCHEMA_VERSION),
  })
  .superRefine((e, ctx) => {
    if (e.type === 'track' && !e.event) {
      ctx.addIssue({ code: 'custom', path: ['event'], message: 'track events need an event name' });
    }
    if (e.consent.analytics === false && (e.anonymous_id || e.user_id || e.context.ip)) {
      ctx.addIssue({
        code: 'custom',
        path: ['consent'],
        message: 'identifiers present without analytics consent',
      });
    }
  });
export type CanonicalEvent = z.infer<typeof canonicalEventSchema>;

/** The signals a protocol parser found; src/core/consent.ts turns them into `Consent`. */
export interface ConsentSignals {
  /** Explicit booleans from the payload (`context.consent`, SDK `consent` call). */
  explicit?: Partial<Record<'analytics' | 'ads' | 'ad_user_data' | 'ad_personalization', boolean>>;
  /** Google Consent Mode: `gcs` (e.g. G111), `gcd` (e.g. 11p1p1p1p5), `npa`, `dma`. */
  gcs?: string;
  gcd?: string;
  npa?: string;
  dma?: string;
  /** Google Consent Mode `dma_cps` (DMA core platform services the user consented to), as sent. */
  dmaCps?: string;
  /** IAB TCF v2.x TC string (`gdpr_consent`, `context.consent.tcf`). */
  tcString?: string;
  gdprApplies?: boolean;
  /** Sec-GPC: 1 (Global Privacy Control). */
  gpc?: boolean;
}

/**
 * What a protocol parser yields per event, before identity, consent, enrichment and the PII guard.
 * `event` is a partial canonical event; the pipeline fills received_at, consent, identifiers, source.
 */
export interface ParsedEvent {
  event: Partial<Omit<CanonicalEvent, 'consent' | 'identifiers'>> & { type: EventType };
  consent: ConsentSignals;
  /** The raw item, kept for quarantine records and the debug view. */
  raw: unknown;
  /** Set when the item could be read but is not a valid event; it is quarantined with this reason. */
  error?: string;
}

/** Quarantined input: published to `events-invalid` and landed in raw.events_invalid. */
export interface InvalidEventRecord {
  reason: string;
  /** zod issues or parser messages, as `path: message`. */
  errors: string[];
  received_at: string;
  source: { id: string; protocol: Protocol };
  event_id?: string | null;
  /** The input as received (PII-redacted where it is text), for replay after a fix. */
  raw: unknown;
  schema_version: number;
}

/** Bus attributes for a canonical event (contract 2): subscriptions filter on these without parsing data. */
export function eventAttributes(e: CanonicalEvent): Record<string, string> {
  return {
    event_id: e.event_id,
    type: e.type,
    event: e.event ?? '',
    source_id: e.source.id,
    consent_ads: String(e.consent.ads),
    consent_analytics: String(e.consent.analytics),
    schema_version: String(e.schema_version),
  };
}

/** First offending key path, or null. Used to quarantine payloads carrying prototype-pollution keys. */
export function findForbiddenKey(value: unknown, path = '', depth = 0): string | null {
  if (depth > 32 || value === null || typeof value !== 'object') return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const hit = findForbiddenKey(value[i], `${path}[${i}]`, depth + 1);
      if (hit) return hit;
    }
    return null;
  }
  for (const key of Object.keys(value)) {
    const here = path ? `${path}.${key}` : key;
    if (FORBIDDEN_KEYS.has(key)) return here;
    const hit = findForbiddenKey((value as Record<string, unknown>)[key], here, depth + 1);
    if (hit) return hit;
  }
  return null;
}

/** zod issues as `path: message` lines. */
export function formatIssues(error: z.ZodError): string[] {
  return error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
}
