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

// ---------------------------------------------------------------- fast path for the collector

/*
 * A hand-written check of canonical event v1 for the collector's hot path, where zod costs about a third of an
 * event's processing. canonicalEventSchema stays the source of truth and the error reporter: `isCanonicalEvent`
 * answers true only when the schema would accept the value AND return it unchanged (no unknown key to strip, no
 * `__proto__` record key to drop); any other value, valid or not, goes to zod (`checkCanonicalEvent`). So a
 * check here can only be stricter than the schema, never looser, and a property test (event.test.ts) pins that
 * both agree on generated valid, broken and hostile events. A schema change must be mirrored here; the test
 * fails until it is.
 */

const hasOwn = (o: object, k: string): boolean => Object.prototype.hasOwnProperty.call(o, k);

/**
 * A plain object (what JSON.parse makes), not an array or a class instance. Compared by shape rather than with
 * this realm's Object.prototype, so objects made in another realm (a vm context, structuredClone) count too.
 */
export function isPlainData(v: unknown): v is Record<string, unknown> {
  if (typeof v !== 'object' || v === null) return false;
  const proto = Object.getPrototypeOf(v) as object | null;
  return proto === null || Object.getPrototypeOf(proto) === null;
}

/** Every enumerable key is one the schema knows: zod would strip nothing. */
function onlyKeys(o: Record<string, unknown>, keys: ReadonlySet<string>): boolean {
  for (const k in o) if (!keys.has(k)) return false;
  return true;
}

const optString = (v: unknown): boolean => v === undefined || v === null || typeof v === 'string';
const optBoolean = (v: unknown): boolean => v === undefined || typeof v === 'boolean';
const nullishBoolean = (v: unknown): boolean => v === undefined || v === null || typeof v === 'boolean';
const finiteNumber = (v: unknown): boolean => typeof v === 'number' && Number.isFinite(v);
const nullishNumber = (v: unknown): boolean => v === undefined || v === null || finiteNumber(v);
/**
 * The last text isoString accepted: an event's timestamp and received_at, and a batch's events, share it. Null
 * until one is accepted (an empty string must not match before then).
 */
let lastIso: string | null = null;
const isoString = (v: unknown): boolean => {
  if (v === lastIso) return true;
  if (typeof v !== 'string' || Number.isNaN(Date.parse(v))) return false;
  lastIso = v;
  return true;
};
const nullishIso = (v: unknown): boolean => v === undefined || v === null || isoString(v);
const idString = (v: unknown): boolean => typeof v === 'string' && v.length <= 200;
const nullishId = (v: unknown): boolean => v === undefined || v === null || idString(v);
const SHA256_LOWER_HEX = /^[0-9a-f]{64}$/;
const nullishSha = (v: unknown): boolean =>
  v === undefined || v === null || (typeof v === 'string' && SHA256_LOWER_HEX.test(v));

/** An optional object of optional strings with these keys (page, campaign, click_ids, geo, library). */
function optStringObject(v: unknown, keys: ReadonlySet<string>): boolean {
  if (v === undefined) return true;
  if (!isPlainData(v)) return false;
  // Every key present is known and holds a string or null; a known key that is absent reads as undefined.
  for (const k in v) if (!keys.has(k) || !optString(v[k])) return false;
  return true;
}

function intArray(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (let i = 0; i < v.length; i++) if (!Number.isSafeInteger(v[i])) return false;
  return true;
}

/** zod's own plain-object test for records also looks at the `constructor` an object answers to. */
function zodPlainConstructor(v: Record<string, unknown>): boolean {
  const ctor = v.constructor;
  if (typeof ctor !== 'function') return true;
  const proto = (ctor as { prototype?: unknown }).prototype;
  return typeof proto === 'object' && proto !== null && !Array.isArray(proto) && hasOwn(proto, 'isPrototypeOf');
}

/** What z.record(z.string(), z.unknown()) accepts and returns unchanged. */
function jsonRecord(v: unknown): boolean {
  return (
    isPlainData(v) &&
    zodPlainConstructor(v) &&
    // zod drops an own `__proto__` key from a record's output; symbol keys fail its string key schema.
    !hasOwn(v, '__proto__') &&
    Object.getOwnPropertySymbols(v).length === 0
  );
}

const keySet = (...keys: string[]): ReadonlySet<string> => new Set(keys);
const EVENT_KEYS = keySet(
  'event_id', 'type', 'event', 'anonymous_id', 'user_id', 'timestamp', 'sent_at', 'received_at',
  'original_timestamp', 'source', 'context', 'properties', 'traits', 'consent', 'identifiers', 'schema_version',
); // prettier-ignore
const SOURCE_KEYS = keySet('id', 'protocol');
const CONTEXT_KEYS = keySet(
  'page', 'user_agent', 'ip', 'locale', 'timezone', 'campaign', 'click_ids', 'geo', 'device', 'library', 'screen',
  'session', 'group_id', 'previous_id',
); // prettier-ignore
const PAGE_KEYS = keySet('url', 'path', 'referrer', 'title', 'search', 'host');
const CAMPAIGN_KEYS = keySet('name', 'source', 'medium', 'term', 'content', 'id');
const CLICK_ID_KEYS = keySet('gclid', 'gbraid', 'wbraid', 'fbclid', 'fbc', 'fbp', 'ttclid', 'msclkid', 'li_fat_id');
const GEO_KEYS = keySet('country', 'region', 'city');
const DEVICE_STRING_KEYS = keySet('type', 'vendor', 'model', 'browser', 'browser_version', 'os', 'os_version');
const LIBRARY_KEYS = keySet('name', 'version');
const SCREEN_KEYS = keySet('width', 'height');
const SESSION_KEYS = keySet('id', 'number', 'engaged');
const CONSENT_KEYS = keySet(
  'analytics', 'ads', 'ad_user_data', 'ad_personalization', 'source', 'tcf', 'region', 'gpc', 'dma',
); // prettier-ignore
const TCF_KEYS = keySet(
  'tc_string', 'gdpr_applies', 'cmp_id', 'purposes', 'legitimate_interests', 'google_vendor',
); // prettier-ignore
const IDENTIFIER_KEYS = keySet('email_sha256', 'phone_sha256');
const EVENT_TYPE_SET: ReadonlySet<unknown> = new Set(EVENT_TYPES);
const PROTOCOL_SET: ReadonlySet<unknown> = new Set(PROTOCOLS);
const CONSENT_SOURCE_SET: ReadonlySet<unknown> = new Set(CONSENT_SOURCES);

function contextOk(c: unknown): c is EventContext {
  if (!isPlainData(c) || !onlyKeys(c, CONTEXT_KEYS)) return false;
  if (
    !optString(c.user_agent) ||
    !optString(c.ip) ||
    !optString(c.locale) ||
    !optString(c.timezone) ||
    !optString(c.group_id) ||
    !optString(c.previous_id)
  ) {
    return false;
  }
  if (
    !optStringObject(c.page, PAGE_KEYS) ||
    !optStringObject(c.campaign, CAMPAIGN_KEYS) ||
    !optStringObject(c.click_ids, CLICK_ID_KEYS) ||
    !optStringObject(c.geo, GEO_KEYS) ||
    !optStringObject(c.library, LIBRARY_KEYS)
  ) {
    return false;
  }
  const d = c.device;
  if (d !== undefined) {
    if (!isPlainData(d) || !optBoolean(d.is_bot)) return false;
    for (const k in d) if (k !== 'is_bot' && (!DEVICE_STRING_KEYS.has(k) || !optString(d[k]))) return false;
  }
  const sc = c.screen;
  if (sc !== undefined) {
    if (!isPlainData(sc) || !onlyKeys(sc, SCREEN_KEYS) || !nullishNumber(sc.width) || !nullishNumber(sc.height)) {
      return false;
    }
  }
  const se = c.session;
  if (se !== undefined) {
    if (
      !isPlainData(se) ||
      !onlyKeys(se, SESSION_KEYS) ||
      !optString(se.id) ||
      !nullishNumber(se.number) ||
      !nullishBoolean(se.engaged)
    ) {
      return false;
    }
  }
  return true;
}

function consentOk(c: unknown): c is Consent {
  if (!isPlainData(c) || !onlyKeys(c, CONSENT_KEYS)) return false;
  if (
    typeof c.analytics !== 'boolean' ||
    typeof c.ads !== 'boolean' ||
    typeof c.ad_user_data !== 'boolean' ||
    typeof c.ad_personalization !== 'boolean' ||
    !CONSENT_SOURCE_SET.has(c.source) ||
    !optString(c.region) ||
    !optBoolean(c.gpc) ||
    !optBoolean(c.dma)
  ) {
    return false;
  }
  const t = c.tcf;
  if (t === undefined) return true;
  return (
    isPlainData(t) &&
    onlyKeys(t, TCF_KEYS) &&
    typeof t.tc_string === 'string' &&
    nullishBoolean(t.gdpr_applies) &&
    (t.cmp_id === undefined || t.cmp_id === null || Number.isSafeInteger(t.cmp_id)) &&
    intArray(t.purposes) &&
    (t.legitimate_interests === undefined || intArray(t.legitimate_interests)) &&
    nullishBoolean(t.google_vendor)
  );
}

/**
 * True when canonicalEventSchema accepts `value` and its output would equal `value` (nothing stripped). False
 * means "ask zod": the value may still be valid (e.g. it carries unknown keys zod strips).
 */
export function isCanonicalEvent(value: unknown): value is CanonicalEvent {
  if (!isPlainData(value) || !onlyKeys(value, EVENT_KEYS)) return false;
  const e = value;
  if (typeof e.event_id !== 'string' || e.event_id.length < 1 || e.event_id.length > 200) return false;
  if (!EVENT_TYPE_SET.has(e.type) || !nullishId(e.event) || !nullishId(e.anonymous_id) || !nullishId(e.user_id)) {
    return false;
  }
  if (!isoString(e.timestamp) || !isoString(e.received_at) || !nullishIso(e.sent_at)) return false;
  if (!nullishIso(e.original_timestamp) || e.schema_version !== SCHEMA_VERSION) return false;
  const source = e.source;
  if (
    !isPlainData(source) ||
    !onlyKeys(source, SOURCE_KEYS) ||
    typeof source.id !== 'string' ||
    !PROTOCOL_SET.has(source.protocol)
  ) {
    return false;
  }
  if (!contextOk(e.context) || !jsonRecord(e.properties) || !jsonRecord(e.traits) || !consentOk(e.consent)) {
    return false;
  }
  const ids = e.identifiers;
  if (!isPlainData(ids) || !onlyKeys(ids, IDENTIFIER_KEYS)) return false;
  if (!nullishSha(ids.email_sha256) || !nullishSha(ids.phone_sha256)) return false;
  // The schema's cross-field rules (superRefine).
  if (e.type === 'track' && !e.event) return false;
  if (e.consent.analytics === false && (e.anonymous_id || e.user_id || e.context.ip)) return false;
  return true;
}

export type EventCheck = { success: true; data: CanonicalEvent } | { success: false; error: z.ZodError };

/**
 * canonicalEventSchema.safeParse with a fast path: a value that passes `isCanonicalEvent` is returned as it is
 * (zod would return an equal copy); anything else is parsed by zod, which strips unknown keys or reports issues.
 */
export function checkCanonicalEvent(value: unknown): EventCheck {
  if (isCanonicalEvent(value)) return { success: true, data: value };
  const parsed = canonicalEventSchema.safeParse(value);
  return parsed.success ? { success: true, data: parsed.data } : { success: false, error: parsed.error };
}

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
