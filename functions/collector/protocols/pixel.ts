/**
 * No-JS pixel: `GET /p.gif?…` → one ParsedEvent, answered with a transparent 1x1 GIF.
 * The query scheme is documented in ./README.md. Pure: no I/O.
 */
import { SCHEMA_VERSION, type ConsentSignals, type EventContext, type ParsedEvent } from '../../../src/core/event';
import { MAX_ID_LENGTH, compact, hashId, isForbiddenName, isoTime, nonEmpty, pageParts, toNumber } from './common';

/** GIF89a, 1x1, one transparent pixel: the 43-byte image every tracking pixel answers with. */
export const TRANSPARENT_GIF: Buffer = Buffer.from(
  'R0lGODlhAQABAIAAAP///wAAACH5BAEAAAAALAAAAAABAAEAAAICRAEAOw==',
  'base64',
);

const PURPOSES = ['analytics', 'ads', 'ad_user_data', 'ad_personalization'] as const;

/** Parses the pixel query string into one event (with `error` set when it breaks the scheme). */
export function parsePixel(query: URLSearchParams, receivedAt: Date): ParsedEvent[] {
  const errors: string[] = [];
  const get = (k: string): string | undefined => {
    const v = query.get(k);
    return v === null || v === '' ? undefined : v;
  };
  const idParam = (k: string): string | undefined => {
    const v = get(k);
    if (v !== undefined && v.length > MAX_ID_LENGTH) {
      errors.push(`"${k}" is over ${MAX_ID_LENGTH} chars`);
      return undefined;
    }
    return v;
  };

  const name = idParam('e');
  const t = get('t') ?? (name ? 'track' : 'page');
  let type: 'page' | 'track' = 'track';
  if (t === 'page' || t === 'track') type = t;
  else errors.push(`unknown type t=${JSON.stringify(t.slice(0, 40))}: expected page or track`);
  if (type === 'track' && !name) errors.push('track pixels need an event name in "e"');

  const properties: Record<string, unknown> = {};
  for (const [key, value] of query) {
    const numeric = key.startsWith('pn.');
    if (!numeric && !key.startsWith('p.')) continue;
    const prop = key.slice(numeric ? 3 : 2);
    if (prop === '') continue;
    if (isForbiddenName(prop)) {
      errors.push(`forbidden property name "${key}"`);
      continue;
    }
    if (!numeric) properties[prop] = value;
    else {
      const n = toNumber(value);
      if (n !== undefined) properties[prop] = n;
    }
  }

  const received = isoTime(receivedAt.getTime());
  // Without `eid` every load is its own event (an email opened twice is two opens), so the receive time
  // is part of the derived id; senders that retry must pass `eid` to be deduplicated.
  const eventId =
    idParam('eid') ??
    hashId('px-', [
      [...query]
        .map(([k, v]) => `${k}=${v}`)
        .sort()
        .join('&'),
      received,
    ]);

  const url = get('url');
  const parts = url ? pageParts(url) : undefined;
  const page = compact({
    url,
    ...parts,
    // An empty query string is no search at all.
    search: parts?.search || undefined,
    referrer: get('ref'),
    title: get('title'),
  });
  const context: EventContext = {};
  if (nonEmpty(page)) context.page = page;

  const event: ParsedEvent['event'] = compact({
    event_id: eventId,
    type,
    event: name,
    anonymous_id: idParam('aid'),
    user_id: idParam('uid'),
    timestamp: received,
    received_at: received,
    source: { id: get('src') ?? 'pixel', protocol: 'pixel' as const },
    context,
    properties,
    traits: {},
    schema_version: SCHEMA_VERSION,
  });
  const parsed: ParsedEvent = { event, consent: readConsent(get('c')), raw: Object.fromEntries(query) };
  if (errors.length) parsed.error = errors.join('; ');
  return [parsed];
}

/**
 * `c` is either a Consent Mode state (`G1xy`, as gtag's gcs) or a comma list of granted purposes;
 * listed purposes are granted and the rest denied. `c=none` denies all. Absent: no signal (regional default).
 */
function readConsent(c: string | undefined): ConsentSignals {
  if (c === undefined) return {};
  if (/^G1[01-]{2}$/.test(c)) return { gcs: c };
  const granted = new Set(
    c
      .split(',')
      .map((s) => s.trim().toLowerCase())
      .filter(Boolean),
  );
  const explicit: Partial<Record<(typeof PURPOSES)[number], boolean>> = {};
  for (const p of PURPOSES) explicit[p] = granted.has(p);
  return { explicit };
}
