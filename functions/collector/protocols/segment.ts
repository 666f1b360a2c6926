/**
 * Segment spec parser: `/v1/{track,identify,page,screen,group,alias,batch}` bodies → ParsedEvent[].
 *
 * Owns the mapping from Segment's camelCase message shape to canonical event v1, the deterministic event id
 * for messages without `messageId`, clock-skew correction, and reading consent signals out of `context`.
 * Per-item problems become ParsedEvents with `error` set (quarantined downstream); only a body that is not a
 * Segment call at all throws BadRequestError. Pure: no I/O.
 */
import { BadRequestError } from '../../../src/core/errors';
import {
  EVENT_TYPES,
  SCHEMA_VERSION,
  findForbiddenKey,
  type ConsentSignals,
  type EventContext,
  type EventType,
  type ParsedEvent,
} from '../../../src/core/event';
import {
  MAX_DEPTH,
  MAX_ID_LENGTH,
  RAW_PREVIEW_CHARS,
  clearlyAcceptable,
  compact,
  depthExceeds,
  hashId,
  isPlainObject,
  nonEmpty,
  pageParts,
  stableJson,
  isoTime,
} from './common';

export type SegmentCall = 'track' | 'identify' | 'page' | 'screen' | 'group' | 'alias' | 'batch';

export interface SegmentRequest {
  call: SegmentCall;
  /** JSON.parse output of the request body. */
  body: unknown;
  /** User part of `Authorization: Basic base64(writeKey:)`, when sent. */
  basicAuthUser?: string | null;
  receivedAt: Date;
  limits: { eventBytes: number };
}

export interface SegmentParseResult {
  writeKey: string | null;
  events: ParsedEvent[];
}

/** The library name our browser SDK reports in `context.library.name`. */
export const SDK_LIBRARY_NAME = 'tagpipe.js';

type Purpose = 'analytics' | 'ads' | 'ad_user_data' | 'ad_personalization';
const PURPOSES: readonly Purpose[] = ['analytics', 'ads', 'ad_user_data', 'ad_personalization'];
const ALL_ADS: readonly Purpose[] = ['ads', 'ad_user_data', 'ad_personalization'];

/**
 * Segment Consent Management (`context.consent.categoryPreferences`) category → our purposes.
 * Category names are matched case-insensitively with spaces, `-` and `_` ignored. OneTrust's default group
 * ids are included because Segment's OneTrust wrapper reports those ids as category names.
 *
 * | category (any case)                                   | purposes granted/denied                        |
 * |-------------------------------------------------------|------------------------------------------------|
 * | Analytics, Statistics, Performance, Measurement, C0002 | analytics                                     |
 * | Advertising, Marketing, Targeting, Ads, C0004         | ads, ad_user_data, ad_personalization          |
 * | Functional, Necessary, Strictly Necessary, Essential,  | none (they never gate collection or sending)  |
 * | Preferences, C0001, C0003, anything else              |                                                |
 *
 * When several categories map to one purpose, the purpose is granted only if all of them are granted.
 * Explicit booleans in `context.consent` (`analytics`, `ads`, ...) win over categories.
 */
export const CATEGORY_PURPOSES: Readonly<Record<string, readonly Purpose[]>> = {
  analytics: ['analytics'],
  statistics: ['analytics'],
  performance: ['analytics'],
  measurement: ['analytics'],
  c0002: ['analytics'],
  advertising: ALL_ADS,
  marketing: ALL_ADS,
  targeting: ALL_ADS,
  ads: ALL_ADS,
  c0004: ALL_ADS,
};

const ISO_DATE = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/i;
// ECMAScript dates are valid within ±8.64e15 ms of the epoch; outside it toISOString throws.
const MAX_DATE_MS = 8.64e15;

/** Parses one Segment request body. Throws BadRequestError only when the body is not a Segment call. */
export function parseSegment(req: SegmentRequest): SegmentParseResult {
  const { body, call } = req;
  if (!isPlainObject(body)) {
    throw new BadRequestError(
      call === 'batch'
        ? `expected a JSON object {"batch": [...]}, got ${describe(body)}`
        : `expected a JSON object with a Segment ${call} call, got ${describe(body)}`,
    );
  }
  const basic = typeof req.basicAuthUser === 'string' && req.basicAuthUser !== '' ? req.basicAuthUser : null;
  const bodyKey = typeof body.writeKey === 'string' && body.writeKey !== '' ? body.writeKey : null;
  const writeKey = basic ?? bodyKey;
  const env: ItemEnv = {
    writeKey,
    receivedAt: req.receivedAt,
    receivedAtIso: isoTime(req.receivedAt.getTime()),
    eventBytes: req.limits.eventBytes,
  };

  if (call !== 'batch') return { writeKey, events: [parseItem(body, call, env, '')] };

  if (!Array.isArray(body.batch)) {
    throw new BadRequestError(`expected "batch" to be an array of calls, got ${describe(body.batch)}`);
  }
  // Segment's HTTP API lets a batch carry `context`, `integrations` and `sentAt` once for all its items.
  env.shared = {
    context: body.context,
    integrations: body.integrations,
    sentAt: body.sentAt,
  };
  const sharedForbidden = findForbiddenKey({ context: body.context, integrations: body.integrations });
  if (sharedForbidden) env.sharedError = `forbidden key "${sharedForbidden}" in the batch's shared fields`;
  return { writeKey, events: body.batch.map((item, i) => parseItem(item, null, env, `batch[${i}]: `)) };
}

interface ItemEnv {
  writeKey: string | null;
  receivedAt: Date;
  receivedAtIso: string;
  eventBytes: number;
  shared?: { context: unknown; integrations: unknown; sentAt: unknown };
  sharedError?: string;
}

function parseItem(item: unknown, call: EventType | null, env: ItemEnv, where: string): ParsedEvent {
  const receivedAt = env.receivedAtIso;
  const source = { id: env.writeKey ?? 'segment', protocol: 'segment' as const };
  const fail = (reason: string, raw: unknown, eventId: string, type: EventType = call ?? 'track'): ParsedEvent => ({
    event: { event_id: eventId, type, received_at: receivedAt, source, schema_version: SCHEMA_VERSION },
    consent: {},
    raw,
    error: where + reason,
  });

  if (!isPlainObject(item)) {
    return fail(`expected an object, got ${describe(item)}`, item, derivedId(env.writeKey, item));
  }

  const givenId = readId(item.messageId);
  const eventId = typeof givenId === 'string' ? givenId : derivedId(env.writeKey, item);
  const itemType = call ?? (typeof item.type === 'string' ? item.type : null);
  const knownType = EVENT_TYPES.find((t) => t === itemType);

  // One cheap walk proves the common case (small, shallow, no forbidden key); anything else gets the exact checks.
  if (!clearlyAcceptable(item, env.eventBytes, MAX_DEPTH)) {
    const json = JSON.stringify(item);
    const bytes = Buffer.byteLength(json, 'utf8');
    if (bytes > env.eventBytes) {
      const preview = { truncated: true, bytes, preview: json.slice(0, RAW_PREVIEW_CHARS) };
      return fail(`event is ${bytes} bytes, over the ${env.eventBytes}-byte limit`, preview, eventId, knownType);
    }
    const forbidden = findForbiddenKey(item);
    if (forbidden) return fail(`forbidden key "${forbidden}"`, item, eventId, knownType);
    if (depthExceeds(item, MAX_DEPTH)) {
      return fail(`nested deeper than ${MAX_DEPTH} levels`, item, eventId, knownType);
    }
  }
  if (env.sharedError) return fail(env.sharedError, item, eventId, knownType);
  if (!knownType) {
    const got = item.type === undefined ? 'no "type"' : `type ${JSON.stringify(item.type)}`;
    return fail(`${got}; expected one of ${EVENT_TYPES.join(', ')}`, item, eventId);
  }

  const errors: string[] = [];
  if (typeof givenId !== 'string' && givenId !== undefined) errors.push(`messageId ${givenId.error}`);

  // Batch-level context/sentAt fill what the item does not say itself.
  const shared = env.shared;
  let ctxIn: unknown = item.context;
  if (shared && isPlainObject(shared.context)) {
    if (item.context === undefined || item.context === null) ctxIn = shared.context;
    else if (isPlainObject(item.context)) ctxIn = { ...shared.context, ...item.context };
  }
  let ctx: Record<string, unknown> = {};
  if (isPlainObject(ctxIn)) ctx = ctxIn;
  else if (ctxIn !== undefined && ctxIn !== null) errors.push(`context must be an object, got ${describe(ctxIn)}`);
  const integrations = isPlainObject(item.integrations)
    ? item.integrations
    : shared && isPlainObject(shared.integrations)
      ? shared.integrations
      : {};

  const properties = readObject(item.properties, 'properties', errors) ?? {};
  const ownTraits = readObject(item.traits, 'traits', errors);
  const ctxTraits = isPlainObject(ctx.traits) ? ctx.traits : undefined;
  const traits = { ...ctxTraits, ...ownTraits };

  const anonymousId = readIdField(item.anonymousId, 'anonymousId', errors);
  const userId = readIdField(item.userId, 'userId', errors);

  let eventName: string | undefined;
  if (knownType === 'track') {
    const e = item.event;
    if (typeof e === 'string' && e.trim() !== '' && e.length <= MAX_ID_LENGTH) eventName = e;
    else if (typeof e === 'string' && e.length > MAX_ID_LENGTH) errors.push(`event name over ${MAX_ID_LENGTH} chars`);
    else errors.push('track calls need an "event" name (a non-empty string)');
  } else if (knownType === 'page' || knownType === 'screen') {
    eventName = readIdField(item.name, 'name', errors);
    // Keep Segment's page category, which has no canonical column of its own.
    if (typeof item.category === 'string' && properties.category === undefined) {
      properties.category = item.category;
    }
  }

  // Clock-skew correction as Segment does it: the client's clock may be off, but the interval between the
  // event and the send is trusted, so timestamp = receivedAt - (sentAt - clientTime).
  const clientTime =
    readTime(item.timestamp, 'timestamp', errors) ?? readTime(item.originalTimestamp, 'originalTimestamp', errors);
  const sentAtValue = item.sentAt !== undefined && item.sentAt !== null ? item.sentAt : shared?.sentAt;
  const sentAt = readTime(sentAtValue, 'sentAt', errors);
  let timestampMs = env.receivedAt.getTime();
  if (clientTime !== undefined) {
    timestampMs = sentAt !== undefined ? timestampMs - (sentAt - clientTime) : clientTime;
    if (Math.abs(timestampMs) > MAX_DATE_MS) {
      errors.push('timestamp after clock-skew correction is out of range');
      timestampMs = env.receivedAt.getTime();
    }
  }

  const context = mapContext(ctx, knownType, properties);
  if (knownType === 'group') {
    const groupId = readIdField(item.groupId, 'groupId', errors);
    if (groupId === undefined) errors.push('group calls need a "groupId"');
    else context.group_id = groupId;
  }
  if (knownType === 'alias') {
    const previousId = readIdField(item.previousId, 'previousId', errors);
    if (previousId === undefined) errors.push('alias calls need a "previousId"');
    else context.previous_id = previousId;
  }

  const library = isPlainObject(ctx.library) ? ctx.library : undefined;
  const protocol = library?.name === SDK_LIBRARY_NAME ? 'sdk' : 'segment';

  const event: ParsedEvent['event'] = compact({
    event_id: eventId,
    type: knownType,
    event: eventName,
    anonymous_id: anonymousId,
    user_id: userId,
    timestamp: isoTime(timestampMs),
    sent_at: sentAt !== undefined ? isoTime(sentAt) : undefined,
    received_at: receivedAt,
    original_timestamp: clientTime !== undefined ? isoTime(clientTime) : undefined,
    source: { id: source.id, protocol },
    context,
    properties,
    traits,
    schema_version: SCHEMA_VERSION,
  });
  const parsed: ParsedEvent = { event, consent: readConsent(ctx, integrations), raw: item };
  if (errors.length) parsed.error = where + errors.join('; ');
  return parsed;
}

/** Id when the client sent no messageId: a retry of the same payload (sentAt aside) gets the same id. */
function derivedId(writeKey: string | null, item: unknown): string {
  let basis = item;
  if (isPlainObject(item) && 'sentAt' in item) {
    const { sentAt: _sentAt, ...rest } = item;
    basis = rest;
  }
  return hashId('seg-', [writeKey ?? '', stableJson(basis)]);
}

type IdRead = string | undefined | { error: string };

/** Segment accepts ids as strings or numbers (stringified); empty means absent. */
function readId(v: unknown): IdRead {
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  if (typeof v !== 'string') return { error: `must be a string or number, got ${describe(v)}` };
  if (v.length > MAX_ID_LENGTH) return { error: `is over ${MAX_ID_LENGTH} chars` };
  return v;
}

function readIdField(v: unknown, name: string, errors: string[]): string | undefined {
  const r = readId(v);
  if (typeof r === 'object') {
    errors.push(`${name} ${r.error}`);
    return undefined;
  }
  return r;
}

function readObject(v: unknown, name: string, errors: string[]): Record<string, unknown> | undefined {
  if (v === undefined || v === null) return undefined;
  if (isPlainObject(v)) return { ...v };
  errors.push(`${name} must be an object, got ${describe(v)}`);
  return undefined;
}

/*
 * The items of a batch usually share their times (one sentAt, timestamps to the millisecond): the last text read
 * and the last time written are remembered, which makes repeats free. Both are pure functions of their input.
 */
let lastTimeText = '';
let lastTimeMs = 0;

/** Milliseconds since the epoch for an ISO-8601 string; pushes an error for anything else. */
function readTime(v: unknown, name: string, errors: string[]): number | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  if (v === lastTimeText) return lastTimeMs;
  if (typeof v === 'string' && ISO_DATE.test(v.trim())) {
    const ms = Date.parse(v.trim());
    if (Number.isFinite(ms)) {
      lastTimeText = v;
      lastTimeMs = ms;
      return ms;
    }
  }
  errors.push(`${name} must be an ISO-8601 date string, got ${JSON.stringify(v)?.slice(0, 64) ?? describe(v)}`);
  return undefined;
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}

function num(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function mapContext(ctx: Record<string, unknown>, type: EventType, properties: Record<string, unknown>): EventContext {
  const out: EventContext = {};
  const p = isPlainObject(ctx.page) ? ctx.page : {};
  // analytics.js puts page fields in both context.page and, for page calls, properties.
  const fromProps = type === 'page' ? properties : {};
  const url = str(p.url) ?? str(fromProps.url);
  let page = {
    url,
    path: str(p.path) ?? str(fromProps.path),
    referrer: str(p.referrer) ?? str(fromProps.referrer),
    title: str(p.title) ?? str(fromProps.title),
    search: str(p.search) ?? str(fromProps.search),
    host: undefined as string | undefined,
  };
  if (url) {
    const parts = pageParts(url);
    page.host = parts.host;
    page.path ??= parts.path;
    page.search ??= parts.search || undefined;
  }
  page = compact(page);
  if (nonEmpty(page)) out.page = page;

  out.user_agent = str(ctx.userAgent);
  out.ip = str(ctx.ip);
  out.locale = str(ctx.locale);
  out.timezone = str(ctx.timezone);

  if (isPlainObject(ctx.campaign)) {
    const c = ctx.campaign;
    const campaign = compact({
      name: str(c.name) ?? str(c.utm_campaign),
      source: str(c.source) ?? str(c.utm_source),
      medium: str(c.medium) ?? str(c.utm_medium),
      term: str(c.term) ?? str(c.utm_term),
      content: str(c.content) ?? str(c.utm_content),
      id: str(c.id) ?? str(c.utm_id),
    });
    if (nonEmpty(campaign)) out.campaign = campaign;
  }

  // Not Segment spec: tagpipe.js reports click ids it read from the landing URL and first-party cookies.
  if (isPlainObject(ctx.click_ids)) {
    const ids = ctx.click_ids;
    const keys = ['gclid', 'gbraid', 'wbraid', 'fbclid', 'fbc', 'fbp', 'ttclid', 'msclkid', 'li_fat_id'] as const;
    const clickIds: Record<string, string> = {};
    for (const k of keys) {
      const v = str(ids[k]);
      if (v) clickIds[k] = v;
    }
    if (nonEmpty(clickIds)) out.click_ids = clickIds;
  }

  if (isPlainObject(ctx.location)) {
    const l = ctx.location;
    const geo = compact({ country: str(l.country), region: str(l.region), city: str(l.city) });
    if (nonEmpty(geo)) out.geo = geo;
  }

  const d = isPlainObject(ctx.device) ? ctx.device : {};
  const os = isPlainObject(ctx.os) ? ctx.os : {};
  const device = compact({
    type: str(d.type),
    vendor: str(d.manufacturer),
    model: str(d.model),
    os: str(os.name),
    os_version: str(os.version),
  });
  if (nonEmpty(device)) out.device = device;

  if (isPlainObject(ctx.library)) {
    const library = compact({ name: str(ctx.library.name), version: str(ctx.library.version) });
    if (nonEmpty(library)) out.library = library;
  }
  if (isPlainObject(ctx.screen)) {
    const screen = compact({ width: num(ctx.screen.width), height: num(ctx.screen.height) });
    if (nonEmpty(screen)) out.screen = screen;
  }
  return compact(out);
}

/** Consent signals from `context.consent`, `context.gdpr_consent`, `integrations.tcf` and `context.gpc`. */
export function readConsent(ctx: Record<string, unknown>, integrations: Record<string, unknown>): ConsentSignals {
  const signals: ConsentSignals = {};
  const c = isPlainObject(ctx.consent) ? ctx.consent : {};

  const explicit: Partial<Record<Purpose, boolean>> = {};
  if (isPlainObject(c.categoryPreferences)) {
    for (const [category, granted] of Object.entries(c.categoryPreferences)) {
      if (typeof granted !== 'boolean') continue;
      const purposes = CATEGORY_PURPOSES[category.toLowerCase().replace(/[\s_-]+/g, '')];
      if (!purposes) continue;
      for (const p of purposes) explicit[p] = (explicit[p] ?? true) && granted;
    }
  }
  for (const p of PURPOSES) if (typeof c[p] === 'boolean') explicit[p] = c[p];
  if (nonEmpty(explicit)) signals.explicit = explicit;

  const tcf = readTcf(c.tcf) ?? readTcf(ctx.gdpr_consent) ?? readTcf(integrations.tcf);
  if (tcf) {
    signals.tcString = tcf.tcString;
    if (tcf.gdprApplies !== undefined) signals.gdprApplies = tcf.gdprApplies;
  }
  const gdprApplies = c.gdprApplies ?? ctx.gdpr_applies ?? ctx.gdpr;
  if (signals.gdprApplies === undefined && gdprApplies !== undefined) {
    const b = toBool(gdprApplies);
    if (b !== undefined) signals.gdprApplies = b;
  }
  const gpc = toBool(ctx.gpc);
  if (gpc !== undefined) signals.gpc = gpc;
  return signals;
}

/** A TC string given bare or as `{tcString|tc_string|consentString, gdprApplies|gdpr_applies}`. */
function readTcf(v: unknown): { tcString: string; gdprApplies?: boolean } | undefined {
  if (typeof v === 'string') return v.trim() ? { tcString: v.trim() } : undefined;
  if (!isPlainObject(v)) return undefined;
  const s = str(v.tcString) ?? str(v.tc_string) ?? str(v.consentString);
  if (!s) return undefined;
  const applies = toBool(v.gdprApplies ?? v.gdpr_applies);
  return applies === undefined ? { tcString: s } : { tcString: s, gdprApplies: applies };
}

function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || v === 'true') return true;
  if (v === 0 || v === '0' || v === 'false') return false;
  return undefined;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (v === undefined) return 'nothing';
  return typeof v === 'object' ? 'an object' : `a ${typeof v}`;
}
