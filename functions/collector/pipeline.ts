/**
 * The collector pipeline, protocol-independent: parsed events → identity → consent → enrich → PII guard →
 * validate → publish. Valid events go to `events`, everything else to `events-invalid` with its reason, and the
 * caller answers only after both publishes are durable.
 */
import { randomUUID } from 'node:crypto';
import type { EventBus } from '../../src/bus/types';
import type { Config } from '../../src/core/config';
import { type ConsentDecision, normalizeConsentDetailed } from '../../src/core/consent';
import {
  type CanonicalEvent,
  type Consent,
  type ConsentSignals,
  type EventContext,
  type InvalidEventRecord,
  type ParsedEvent,
  type Protocol,
  SCHEMA_VERSION,
  checkCanonicalEvent,
  eventAttributes,
  formatIssues,
} from '../../src/core/event';
import type { Logger } from '../../src/core/logger';
import { BoundedCache } from '../../src/core/cache';
import { identifiersFrom, redactPage, redactProperties, redactText } from '../../src/core/pii';
import type { DebugHub, Journey, JourneyEvent } from './debug-hub';
import { applyIpPolicy, campaignFromUrl, clickIdsFromUrl, geoFromHeaders, parseUserAgent } from './enrich';
import { newFirstPartyId, resolveIdentity } from './identity';
import { isoTime } from './protocols/common';
import type { CollectorMetrics } from './metrics';

/** What the HTTP layer knows about one request. */
export interface HitContext {
  requestId: string;
  receivedAt: Date;
  /** Client IP as resolved through trusted proxies. */
  ip: string | null;
  userAgent: string | null;
  headers: Record<string, string | string[] | undefined>;
  cookies: Record<string, string>;
  /** Host the request was sent to (for fbc's subdomain index when no cookie domain is configured). */
  host: string | null;
  /** `Sec-GPC: 1`. */
  gpc: boolean;
  /** Debug preview cookie value, when the browser enabled the debug view. */
  previewId?: string | null;
  method: string;
  path: string;
  rawBody?: string | null;
}

export interface PipelineResult {
  accepted: CanonicalEvent[];
  quarantined: InvalidEventRecord[];
  /** The first-party id to set (null: none), or 'delete' when consent was withdrawn. */
  cookie: { value: string } | 'delete' | null;
  /** Per accepted event: consent signals that could not be read (bad gcs/gcd/TCF strings). */
  consentWarnings: string[][];
}

/** What the last page URL of a request gave (the events of a request usually share it). */
interface HitMemo {
  url: string | null;
  fromUrl: { clickIds: ReturnType<typeof clickIdsFromUrl>; campaign: ReturnType<typeof campaignFromUrl> } | null;
}

export interface PipelineDeps {
  config: Config;
  bus: EventBus;
  logger: Logger;
  metrics: CollectorMetrics;
  hub?: DebugHub;
}

/** Longest raw input kept in a quarantine record, so one huge bad event cannot bloat the invalid table. */
const MAX_RAW_CHARS = 16 * 1024;

function capRaw(raw: unknown): unknown {
  let text: string;
  try {
    text = JSON.stringify(raw) ?? 'null';
  } catch {
    return { unserializable: true };
  }
  if (text.length <= MAX_RAW_CHARS) return JSON.parse(redactText(text)) as unknown;
  return { truncated: true, size: text.length, head: redactText(text.slice(0, MAX_RAW_CHARS)) };
}

/** User agents repeat across hits; parsing one costs tens of microseconds. */
const userAgents = new BoundedCache<ReturnType<typeof parseUserAgent>>(2000);
/** UTM fields are a pure function of the URL. */
const campaigns = new BoundedCache<ReturnType<typeof campaignFromUrl>>(5000);
/**
 * Consent decisions by signals and country (the policy is fixed per pipeline): the events of a batch, and the
 * hits of a visit, send the same signals, and a TCF string costs tens of microseconds to decode. A decision is
 * shared by every event that gets it, and is never modified. Very long keys (a TCF string is usually < 1 KB) are
 * decided each time rather than pinned in memory.
 */
const CONSENT_CACHE = 2000;
const MAX_CONSENT_KEY = 4096;

/** The signals' identity as text; undefined parts are left empty (a signal is a short string or a boolean). */
function consentKey(s: ConsentSignals, gpc: boolean, country: string | null): string {
  const e = s.explicit;
  const flag = (v: boolean | undefined) => (v === undefined ? '' : v ? '1' : '0');
  const explicit = e ? `${flag(e.analytics)}${flag(e.ads)}${flag(e.ad_user_data)}${flag(e.ad_personalization)}` : '-';
  return [
    explicit,
    s.gcs ?? '',
    s.gcd ?? '',
    s.npa ?? '',
    s.dma ?? '',
    s.dmaCps ?? '',
    s.tcString ?? '',
    flag(s.gdprApplies),
    flag(s.gpc ?? gpc),
    country ?? '',
  ].join('\u0000');
}

export class CollectorPipeline {
  private readonly consents = new BoundedCache<ConsentDecision>(CONSENT_CACHE, MAX_CONSENT_KEY);
  /** Truncated addresses by input (the IP policy is fixed per pipeline): a visitor's hits repeat the same IP. */
  private readonly truncatedIps = new BoundedCache<string | null>(10_000);
  private readonly truncateIp = (ip: string): string | null => applyIpPolicy(ip, this.deps.config.ip);

  constructor(private readonly deps: PipelineDeps) {}

  private consentFor(signals: ConsentSignals, gpc: boolean, country: string | null): ConsentDecision {
    const policy = this.deps.config.consent;
    return this.consents.get(consentKey(signals, gpc, country), () =>
      normalizeConsentDetailed({ ...signals, gpc: signals.gpc ?? gpc }, { country, policy }),
    );
  }

  /** Turns parsed events into canonical events or quarantine records. Pure apart from randomness and the clock. */
  prepare(parsed: ParsedEvent[], hit: HitContext, protocol: Protocol, sourceId: string): PipelineResult {
    const { config } = this.deps;
    const accepted: CanonicalEvent[] = [];
    const quarantined: InvalidEventRecord[] = [];
    const consentWarnings: string[][] = [];
    const receivedAt = isoTime(hit.receivedAt.getTime());
    const geo = geoFromHeaders(hit.headers, config.geo);
    // Per-request memo: events of one request usually share the IP, page URL and user agent.
    const memo: HitMemo = { url: null, fromUrl: null };
    const cookieValue = hit.cookies[config.cookie.name] ?? null;
    let cookie: PipelineResult['cookie'] = null;
    let issuedId: string | null = null;
    let requestId: string | undefined;
    const serverToServer = protocol === 'segment' && !hit.headers.origin && !hit.headers.referer;

    const quarantine = (p: ParsedEvent, reason: string, errors: string[]): void => {
      const proto = p.event.source?.protocol ?? protocol;
      quarantined.push({
        reason,
        errors,
        received_at: receivedAt,
        source: { id: p.event.source?.id ?? sourceId, protocol: proto },
        event_id: typeof p.event.event_id === 'string' ? p.event.event_id : null,
        raw: capRaw(p.raw),
        schema_version: SCHEMA_VERSION,
      });
    };

    for (const p of parsed) {
      if (p.error) {
        quarantine(p, p.error, [p.error]);
        continue;
      }
      const draft = p.event;
      const { consent, warnings } = this.consentFor(p.consent, hit.gpc, geo.country ?? null);
      const clientId = typeof draft.anonymous_id === 'string' && draft.anonymous_id ? draft.anonymous_id : null;
      const identity = resolveIdentity({
        cookieValue,
        clientAnonymousId: clientId,
        consent,
        now: hit.receivedAt,
        // One id per request at most: events of one hit share it, and ids are drawn only when needed.
        newId: issuedId ?? (requestId ??= newFirstPartyId()),
      });
      let anonymousId = identity.anonymousId;
      if (identity.source === 'new' && clientId && serverToServer) {
        // A server-side library (no browser headers) with its own non-cookie-shaped id, like "anon-5": keep the
        // client's id rather than splitting its events across a new one nobody will send back.
        anonymousId = clientId;
      } else if (identity.setCookie && identity.anonymousId) {
        issuedId = identity.anonymousId;
        cookie = { value: identity.anonymousId };
      } else if (!consent.analytics && cookieValue && cookie === null) {
        cookie = 'delete';
      }
      const event = this.build(draft, consent, anonymousId, hit, geo, receivedAt, protocol, sourceId, memo);
      const checked = checkCanonicalEvent(event);
      if (!checked.success) {
        quarantine(p, 'contract', formatIssues(checked.error));
        continue;
      }
      accepted.push(checked.data);
      consentWarnings.push(warnings);
    }
    return { accepted, quarantined, cookie, consentWarnings };
  }

  private build(
    draft: ParsedEvent['event'],
    consent: Consent,
    anonymousId: string | null,
    hit: HitContext,
    geo: ReturnType<typeof geoFromHeaders>,
    receivedAt: string,
    protocol: Protocol,
    sourceId: string,
    memo: HitMemo,
  ): CanonicalEvent {
    const { config } = this.deps;
    const ctx = draft.context ?? {};
    const pageUrl = ctx.page?.url ?? null;
    const userAgent = ctx.user_agent ?? hit.userAgent ?? null;
    let fromUrl = pageUrl !== null && pageUrl === memo.url ? memo.fromUrl : null;
    if (pageUrl && !fromUrl) {
      fromUrl = {
        clickIds: clickIdsFromUrl(pageUrl, {
          now: hit.receivedAt,
          cookieDomain: config.cookie.domain ?? hit.host ?? null,
          cookies: hit.cookies,
        }),
        campaign: campaigns.get(pageUrl, campaignFromUrl),
      };
      memo.url = pageUrl;
      memo.fromUrl = fromUrl;
    }
    const analytics = consent.analytics;
    // Without analytics consent the event still counts (a cookieless ping) but carries no identifiers and no IP.
    const rawIp = ctx.ip ?? hit.ip ?? null;
    const ip = analytics && rawIp ? this.truncatedIps.get(rawIp, this.truncateIp) : null;
    // Built in one pass. Objects shared between events (the request's geo, cached device, campaign and click-id
    // answers) are never modified after this point; a copy is made only where two sources merge.
    const parsedDevice = userAgent ? userAgents.get(userAgent, parseUserAgent) : undefined;
    const urlCampaign = fromUrl?.campaign;
    const urlClickIds = fromUrl?.clickIds;
    const context: EventContext = {
      page: ctx.page ? redactPage(ctx.page) : undefined,
      user_agent: userAgent,
      ip,
      locale: ctx.locale,
      timezone: ctx.timezone,
      campaign: ctx.campaign ? { ...urlCampaign, ...ctx.campaign } : (urlCampaign ?? {}),
      click_ids: analytics ? (ctx.click_ids ? { ...urlClickIds, ...ctx.click_ids } : (urlClickIds ?? {})) : {},
      geo: ctx.geo ? { ...geo, ...ctx.geo } : geo,
      device: ctx.device ? { ...ctx.device, ...parsedDevice } : (parsedDevice ?? {}),
      library: ctx.library,
      screen: ctx.screen,
      session: ctx.session,
      group_id: ctx.group_id,
      previous_id: ctx.previous_id,
    };
    const properties = draft.properties ?? {};
    const traits = analytics ? (draft.traits ?? {}) : {};
    return {
      event_id: draft.event_id ?? randomUUID(),
      type: draft.type,
      event: draft.event,
      anonymous_id: analytics ? anonymousId : null,
      user_id: analytics ? (draft.user_id ?? null) : null,
      timestamp: draft.timestamp ?? receivedAt,
      sent_at: draft.sent_at,
      received_at: receivedAt,
      original_timestamp: draft.original_timestamp,
      source: draft.source ?? { id: sourceId, protocol },
      context,
      properties: redactProperties(properties),
      traits,
      schema_version: SCHEMA_VERSION,
      consent,
      // Hashed from the plaintext before redaction; none without analytics consent.
      identifiers: analytics ? identifiersFrom({}, [traits, null, properties]) : {},
    };
  }

  /** Publishes prepared events; resolves when both topics confirmed them durable. */
  async publish(result: PipelineResult, hit: HitContext): Promise<{ messageIds: string[]; invalidIds: string[] }> {
    const { bus, metrics } = this.deps;
    const started = performance.now();
    const valid = result.accepted.length
      ? bus.publish(
          'events',
          result.accepted.map((e) => ({ data: JSON.stringify(e), attributes: eventAttributes(e) })),
        )
      : null;
    const invalid = result.quarantined.length
      ? bus.publish(
          'events-invalid',
          result.quarantined.map((r) => ({
            data: JSON.stringify(r),
            attributes: {
              reason: r.reason.slice(0, 200),
              source_id: r.source.id,
              protocol: r.source.protocol,
              event_id: r.event_id ?? '',
              schema_version: String(r.schema_version),
            },
          })),
        )
      : null;
    // Both topics are written at once; the request waits for both (most requests have events for one only).
    const [validIds, invalidIds] = (
      valid && invalid ? await Promise.all([valid, invalid]) : [valid && (await valid), invalid && (await invalid)]
    ).map((r) => r?.messageIds ?? []);
    const seconds = (performance.now() - started) / 1000;
    metrics.publishedTotal += result.accepted.length + result.quarantined.length;
    if (result.accepted.length) {
      metrics.published.inc({ topic: 'events' }, result.accepted.length);
      metrics.publishLatency.observe({ topic: 'events' }, seconds);
    }
    if (result.quarantined.length) {
      metrics.published.inc({ topic: 'events-invalid' }, result.quarantined.length);
      metrics.publishLatency.observe({ topic: 'events-invalid' }, seconds);
      for (const r of result.quarantined) metrics.invalid.inc({ reason: reasonLabel(r.reason) });
    }
    this.record(result, hit, validIds, null);
    return { messageIds: validIds, invalidIds };
  }

  /** Sends the request's journey to the debug view (when enabled). */
  record(result: PipelineResult, hit: HitContext, messageIds: string[], error: string | null, status = 200): void {
    const hub = this.deps.hub;
    if (!hub) return;
    const journey: Journey = {
      id: hit.requestId,
      at: hit.receivedAt.toISOString(),
      protocol: result.accepted[0]?.source.protocol ?? result.quarantined[0]?.source.protocol ?? 'segment',
      previewId: hit.previewId ?? null,
      raw: {
        method: hit.method,
        path: hit.path,
        headers: Object.fromEntries(
          Object.entries(hit.headers).filter(([k]) => k !== 'cookie' && k !== 'authorization'),
        ),
        body: hit.rawBody ? redactText(hit.rawBody.slice(0, 8192)) : null,
      },
      events: [
        ...result.accepted.map((e, i): JourneyEvent => ({
          event_id: e.event_id,
          canonical: e as unknown as JourneyEvent['canonical'],
          consent: { decision: e.consent, source: e.consent.source, warnings: result.consentWarnings[i] ?? [] },
          enrichment: {
            device: e.context.device,
            geo: e.context.geo,
            ip: e.context.ip,
            click_ids: e.context.click_ids,
          },
          validation: { ok: true, errors: [] as string[] },
          publish: error
            ? { topic: 'events', ok: false, error }
            : { topic: 'events', ok: true, messageId: messageIds[i] },
        })),
        ...result.quarantined.map((r): JourneyEvent => ({
          event_id: r.event_id ?? null,
          canonical: null,
          consent: null,
          enrichment: null,
          validation: { ok: false, errors: r.errors },
          publish: error ? { topic: 'events-invalid', ok: false, error } : { topic: 'events-invalid', ok: true },
        })),
      ],
      response: { status },
    };
    try {
      hub.record(journey);
    } catch (err) {
      this.deps.logger.warn({ err }, 'debug hub refused a journey');
    }
  }
}

/** Keeps the `reason` label's cardinality bounded. */
export function reasonLabel(reason: string): string {
  const head = reason
    .split(/[:(]/)[0]
    .trim()
    .toLowerCase()
    .replace(/[^a-z0-9_ ]/g, '');
  return head.slice(0, 40) || 'other';
}
