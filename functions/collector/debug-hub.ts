/**
 * The debug hub: an in-memory, bounded record of recent request journeys (raw request → parsed events →
 * consent, enrichment, validation, publish → destination deliveries) that /debug streams to browsers.
 * It also knows which preview cookies (`tp_debug`) were issued, so a browser sees only its own traffic.
 * Everything is PII-redacted on the way in; nothing here is durable (a restart forgets it, by design).
 */
import crypto from 'node:crypto';
import { redactText, redactUrl } from '../../src/core/pii';
import { cookieValue } from './cookies';

export const PREVIEW_COOKIE = 'tp_debug';

export interface JourneyEvent {
  event_id: string | null;
  /** The canonical event, or null when the item was quarantined. */
  canonical: ({ event?: string | null; anonymous_id?: string | null } & Record<string, unknown>) | null;
  consent: { decision: unknown; source: string | null; warnings: string[] } | null;
  enrichment: { device?: unknown; geo?: unknown; ip?: string | null; click_ids?: unknown } | null;
  validation: { ok: boolean; errors: string[] };
  publish: { topic: string; ok: boolean; messageId?: string; error?: string };
}

/** What one destination was sent for an event and what it answered (appended by the streaming sync). */
export interface Delivery {
  destination: string;
  sync: string;
  status: string;
  httpStatus?: number | null;
  /** Short summary of the vendor's answer (or of the dry-run request). */
  response?: string | null;
  at?: string;
}

export interface Journey {
  /** The request id. */
  id: string;
  at: string;
  protocol: string;
  /** Value of the `tp_debug` cookie on the hit, when the browser enabled preview. */
  previewId?: string | null;
  raw: {
    method: string;
    path: string;
    query?: Record<string, unknown> | string | null;
    /** Without cookie and authorization. */
    headers: Record<string, string | string[] | undefined>;
    /** Body text, capped and redacted. */
    body: string | null;
  };
  events: JourneyEvent[];
  response: { status: number };
  deliveries?: Array<Delivery & { event_id: string }>;
}

export interface JourneyFilter {
  /** Only journeys whose request carried this preview cookie. */
  previewId?: string | null;
  anonymousId?: string | null;
  /** Event (or page) name. */
  event?: string | null;
}

export type HubMessage =
  | { type: 'journey'; journey: Journey }
  | { type: 'delivery'; journeyId: string; delivery: Delivery & { event_id: string } };

export interface DebugHubOptions {
  /** Journeys kept in the ring buffer. */
  capacity?: number;
  /** Body characters kept per journey. */
  bodyChars?: number;
  /** How long an issued preview cookie stays valid. */
  previewTtlMs?: number;
  /** Preview ids remembered at most (oldest forgotten first). */
  maxPreviews?: number;
  now?: () => number;
}

const DROP_HEADERS = new Set(['cookie', 'authorization', 'proxy-authorization', 'x-debug-token']);
/** Headers carrying the client's full IP address; the canonical event shows it after the IP policy instead. */
const IP_HEADERS = new Set([
  'x-forwarded-for',
  'x-real-ip',
  'forwarded',
  'true-client-ip',
  'cf-connecting-ip',
  'x-client-ip',
]);

/** Redacts every string in a JSON-shaped value (emails and phone numbers become placeholders). */
function redactDeep<T>(value: T): T {
  if (value === undefined || value === null) return value;
  try {
    return JSON.parse(redactText(JSON.stringify(value))) as T;
  } catch {
    return '[unserializable]' as T;
  }
}

function matches(j: Journey, f: JourneyFilter): boolean {
  if (f.previewId !== undefined && f.previewId !== null && j.previewId !== f.previewId) return false;
  if (f.anonymousId && !j.events.some((e) => e.canonical?.anonymous_id === f.anonymousId)) return false;
  if (f.event && !j.events.some((e) => e.canonical?.event === f.event)) return false;
  return true;
}

/** Value of one cookie in a Cookie header (the collector's one cookie reader, ./cookies). */
export { cookieValue };

export class DebugHub {
  private readonly capacity: number;
  private readonly bodyChars: number;
  private readonly previewTtlMs: number;
  private readonly maxPreviews: number;
  private readonly now: () => number;
  private ring: Journey[] = [];
  private readonly byEventId = new Map<string, Journey>();
  private readonly listeners = new Set<{ filter: JourneyFilter; listener: (m: HubMessage) => void }>();
  /** preview id → expiry (ms); Map keeps insertion order, so the first key is the oldest. */
  private readonly previews = new Map<string, number>();
  /** Ids disabled before they expired (signed ids cannot be forgotten, only refused). */
  private readonly revoked = new Set<string>();
  private previewSecret: string | null = null;

  constructor(options: DebugHubOptions = {}) {
    this.capacity = options.capacity ?? 500;
    this.bodyChars = options.bodyChars ?? 8192;
    this.previewTtlMs = options.previewTtlMs ?? 8 * 3600_000;
    this.maxPreviews = options.maxPreviews ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** Stores a journey (redacted) and tells matching subscribers. */
  record(journey: Journey): void {
    const j = this.sanitize(journey);
    this.ring.push(j);
    for (const e of j.events) if (e.event_id) this.byEventId.set(e.event_id, j);
    while (this.ring.length > this.capacity) {
      const old = this.ring.shift()!;
      for (const e of old.events)
        if (e.event_id && this.byEventId.get(e.event_id) === old) this.byEventId.delete(e.event_id);
    }
    this.emit(j, { type: 'journey', journey: j });
  }

  /** Appends what a destination was sent and answered for an event. False when the journey is no longer held. */
  recordDelivery(eventId: string, delivery: Delivery): boolean {
    const j = this.byEventId.get(eventId);
    if (!j) return false;
    const d = { ...redactDeep(delivery), at: delivery.at ?? new Date(this.now()).toISOString(), event_id: eventId };
    (j.deliveries ??= []).push(d);
    this.emit(j, { type: 'delivery', journeyId: j.id, delivery: d });
    return true;
  }

  /** Journeys matching the filter, oldest first. */
  recent(filter: JourneyFilter = {}, limit = this.capacity): Journey[] {
    return this.ring.filter((j) => matches(j, filter)).slice(-limit);
  }

  subscribe(filter: JourneyFilter, listener: (m: HubMessage) => void): () => void {
    const entry = { filter, listener };
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }

  /**
   * Signs preview ids with this secret (the debug token), so every collector instance sharing it accepts the
   * cookie, not only the one that issued it (Cloud Run runs many). Without a secret, ids are remembered here.
   */
  setPreviewSecret(secret: string | null): void {
    this.previewSecret = secret || null;
  }

  /** Issues a new preview id (the value of the `tp_debug` cookie). */
  createPreview(): string {
    const nonce = crypto.randomBytes(18).toString('base64url');
    const expires = this.now() + this.previewTtlMs;
    if (this.previewSecret) {
      const payload = `${nonce}.${expires.toString(36)}`;
      return `${payload}.${this.sign(payload)}`;
    }
    this.previews.set(nonce, expires);
    while (this.previews.size > this.maxPreviews) this.previews.delete(this.previews.keys().next().value!);
    return nonce;
  }

  revokePreview(id: string): void {
    this.previews.delete(id);
    this.revoked.add(id);
    while (this.revoked.size > this.maxPreviews) this.revoked.delete(this.revoked.values().next().value!);
  }

  /** The preview id from a Cookie header when this hub issued (or signed) it and it has not expired; else null. */
  previewAllowed(cookieHeader: string | undefined): string | null {
    const id = cookieValue(cookieHeader, PREVIEW_COOKIE);
    if (!id || this.revoked.has(id)) return null;
    const parts = id.split('.');
    if (parts.length === 3 && this.previewSecret) {
      const [nonce, expires36, mac] = parts;
      const expected = Buffer.from(this.sign(`${nonce}.${expires36}`));
      const given = Buffer.from(mac);
      const valid = given.length === expected.length && crypto.timingSafeEqual(given, expected);
      return valid && parseInt(expires36, 36) > this.now() ? id : null;
    }
    const expires = this.previews.get(id);
    if (expires === undefined) return null;
    if (expires <= this.now()) {
      this.previews.delete(id);
      return null;
    }
    return id;
  }

  private sign(payload: string): string {
    return crypto.createHmac('sha256', `tp_debug:${this.previewSecret}`).update(payload).digest('base64url');
  }

  private emit(j: Journey, message: HubMessage): void {
    for (const { filter, listener } of this.listeners) {
      if (!matches(j, filter)) continue;
      try {
        listener(message);
      } catch {
        // a broken subscriber (closed socket) must not stop the others or the collector
      }
    }
  }

  private sanitize(journey: Journey): Journey {
    const headers: Journey['raw']['headers'] = {};
    for (const [k, v] of Object.entries(journey.raw.headers ?? {})) {
      if (DROP_HEADERS.has(k.toLowerCase()) || v === undefined) continue;
      if (IP_HEADERS.has(k.toLowerCase())) {
        headers[k] = '[ip]';
        continue;
      }
      headers[k] = k.toLowerCase() === 'referer' && typeof v === 'string' ? redactUrl(v) : redactDeep(v);
    }
    const body = journey.raw.body === null || journey.raw.body === undefined ? null : String(journey.raw.body);
    return {
      ...journey,
      raw: {
        method: journey.raw.method,
        path: redactUrl(journey.raw.path),
        query: redactDeep(journey.raw.query ?? null),
        headers,
        body:
          body === null
            ? null
            : redactText(body.length > this.bodyChars ? `${body.slice(0, this.bodyChars)}…[truncated]` : body),
      },
      events: redactDeep(journey.events ?? []),
      deliveries: redactDeep(journey.deliveries),
    };
  }
}
