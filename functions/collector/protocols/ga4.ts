/**
 * GA4 gtag.js hit parser: `/g/collect?v=2&tid=G-…` → ParsedEvent[].
 *
 * gtag sends request-level parameters in the URL and, when it batches, one event per line in a POST body;
 * each line is a query string of event-level parameters that override the URL's. A GET (or a POST with an
 * empty body) carries one event in the URL. The parser is tolerant like Google's endpoint: unknown parameters
 * are ignored, unreadable numbers are left out; a line without `en` becomes a quarantined event.
 * Consent parameters (gcs, gcd, npa, dma, dma_cps) are passed on as raw strings; src/core/consent.ts decodes them.
 * Pure: no I/O.
 */
import { BadRequestError } from '../../../src/core/errors';
import { SCHEMA_VERSION, type ConsentSignals, type EventContext, type ParsedEvent } from '../../../src/core/event';
import { MAX_ID_LENGTH, compact, hashId, isForbiddenName, nonEmpty, pageParts, toNumber } from './common';

export interface Ga4Request {
  method: 'GET' | 'POST';
  query: URLSearchParams;
  body: string | null;
  receivedAt: Date;
}

export interface Ga4ParseResult {
  measurementId: string;
  events: ParsedEvent[];
  /** True when any event asked for DebugView (`_dbg=1` or `ep.debug_mode`). */
  debug: boolean;
}

/** GA4 web measurement ids: `G-` and an uppercase alphanumeric code (10 characters today). */
const MEASUREMENT_ID = /^G-[A-Z0-9]{4,20}$/;

/** GA4 caps an event at 200 items; pr201 and beyond are ignored as Google ignores them. */
const MAX_ITEMS = 200;

/** Item field codes in `prN` (key~value pairs joined by `~`), as gtag.js serializes the items array. */
const ITEM_FIELDS: Readonly<Record<string, string>> = {
  id: 'item_id',
  nm: 'item_name',
  ca: 'item_category',
  c2: 'item_category2',
  c3: 'item_category3',
  c4: 'item_category4',
  c5: 'item_category5',
  br: 'item_brand',
  va: 'item_variant',
  ln: 'item_list_name',
  li: 'item_list_id',
  af: 'affiliation',
  cp: 'coupon',
  lo: 'location_id',
};
const ITEM_NUMBER_FIELDS: Readonly<Record<string, string>> = {
  pr: 'price',
  qt: 'quantity',
  ds: 'discount',
  lp: 'index',
};

/** Parses one /g/collect request. Throws BadRequestError unless `v=2` and a valid `tid`. */
export function parseGa4(req: Ga4Request): Ga4ParseResult {
  const url = req.query;
  const v = url.get('v');
  if (v !== '2') {
    throw new BadRequestError(
      v === null ? 'missing "v": GA4 hits carry v=2' : `unsupported protocol version v=${v}: expected v=2 (GA4)`,
    );
  }
  const tid = url.get('tid');
  if (tid === null || !MEASUREMENT_ID.test(tid)) {
    throw new BadRequestError(
      tid === null
        ? 'missing "tid": expected a GA4 measurement id like G-XXXXXXXXXX'
        : `invalid tid "${tid.slice(0, 40)}": expected a GA4 measurement id like G-XXXXXXXXXX`,
    );
  }

  const lines =
    req.method === 'POST' && req.body !== null
      ? req.body
          .split(/\r?\n/)
          .map((l) => l.trim())
          .filter((l) => l !== '')
      : [];
  // The raw text of a GET hit is the re-serialized query, made only if a quarantine record or the debug view asks.
  const hits: { params: URLSearchParams; line: number; raw: string | (() => string) }[] =
    lines.length === 0
      ? [{ params: url, line: 0, raw: () => url.toString() }]
      : lines.map((l, i) => ({ params: merge(url, new URLSearchParams(l)), line: i, raw: l }));

  const events = hits.map((h) => parseHit(h.params, h.line, h.raw, tid, req.receivedAt));
  // An ep.event_id in the URL applies to every line of a batch; the dedup key must not merge distinct events,
  // so a repeat within one request gets its line number appended (the first keeps the site's id for Meta).
  const seen = new Set<string>();
  events.forEach((e, i) => {
    const id = e.event.event_id as string;
    if (seen.has(id)) e.event.event_id = `${id.slice(0, MAX_ID_LENGTH - 8)}#${hits[i].line}`;
    seen.add(e.event.event_id as string);
  });
  const debug = hits.some((h) => isDebug(h.params));
  return { measurementId: tid, events, debug };
}

/** Event-level parameters override request-level ones. */
function merge(base: URLSearchParams, line: URLSearchParams): URLSearchParams {
  const out = new URLSearchParams(base);
  for (const key of new Set(line.keys())) out.set(key, line.get(key) ?? '');
  return out;
}

function isDebug(p: URLSearchParams): boolean {
  const dbg = p.get('_dbg');
  const mode = p.get('ep.debug_mode') ?? p.get('epn.debug_mode');
  return (dbg !== null && dbg !== '0') || (mode !== null && mode !== '0' && mode !== 'false');
}

function get(p: URLSearchParams, key: string): string | undefined {
  const v = p.get(key);
  return v === null || v === '' ? undefined : v;
}

function parseHit(
  p: URLSearchParams,
  line: number,
  raw: string | (() => string),
  tid: string,
  receivedAt: Date,
): ParsedEvent {
  const errors: string[] = [];
  const en = get(p, 'en');
  const type = en === 'page_view' ? 'page' : 'track';
  if (en === undefined) errors.push('event line has no "en" (event name)');
  else if (en.length > MAX_ID_LENGTH) errors.push(`event name over ${MAX_ID_LENGTH} chars`);

  const properties: Record<string, unknown> = {};
  const traits: Record<string, unknown> = {};
  // One pass over the parameters (forEach: no [key, value] array per entry) for ep.*, up.* and the pr* items.
  const itemTexts: { n: number; value: string }[] = [];
  p.forEach((value, key) => {
    const c0 = key.charCodeAt(0);
    // Only names starting with e, u or p matter here.
    if (c0 !== 101 && c0 !== 117 && c0 !== 112) return;
    if (c0 === 112) {
      const m = /^pr([1-9]\d{0,2})$/.exec(key);
      if (m && Number(m[1]) <= MAX_ITEMS && value !== '') itemTexts.push({ n: Number(m[1]), value });
      return;
    }
    const target =
      key.startsWith('ep.') || key.startsWith('epn.')
        ? properties
        : key.startsWith('up.') || key.startsWith('upn.')
          ? traits
          : null;
    if (!target) return;
    const numeric = key.startsWith('epn.') || key.startsWith('upn.');
    const name = key.slice(key.indexOf('.') + 1);
    if (name === '') return;
    if (isForbiddenName(name)) {
      errors.push(`forbidden parameter name "${key}"`);
      return;
    }
    if (numeric) {
      const n = toNumber(value);
      if (n !== undefined) target[name] = n;
    } else {
      target[name] = value;
    }
  });
  const et = toNumber(p.get('_et'));
  if (et !== undefined) properties.engagement_time_msec = et;
  const cu = get(p, 'cu');
  if (cu !== undefined) properties.currency = cu;
  const items = readItems(itemTexts, errors);
  if (items.length > 0) properties.items = items;

  const givenId = get(p, 'ep.event_id');
  let eventId: string;
  if (givenId !== undefined && givenId.length <= MAX_ID_LENGTH) {
    eventId = givenId;
  } else {
    if (givenId !== undefined) errors.push(`ep.event_id over ${MAX_ID_LENGTH} chars`);
    // gtag numbers hits within a page load (_p = page load id, _s = hit sequence), so a retransmitted hit
    // hashes the same. Without both, distinct hits could collide, so the receive time joins the hash.
    const pageLoad = p.get('_p') ?? '';
    const seq = p.get('_s') ?? '';
    const parts = [tid, p.get('cid') ?? '', p.get('sid') ?? '', pageLoad, seq, String(line), en ?? ''];
    if (pageLoad === '' && seq === '') parts.push(receivedAt.toISOString());
    eventId = hashId('ga4-', parts);
  }

  const cid = get(p, 'cid');
  const uid = get(p, 'uid');
  if (cid && cid.length > MAX_ID_LENGTH) errors.push(`cid over ${MAX_ID_LENGTH} chars`);
  if (uid && uid.length > MAX_ID_LENGTH) errors.push(`uid over ${MAX_ID_LENGTH} chars`);

  const received = receivedAt.toISOString();
  const event: ParsedEvent['event'] = { event_id: eventId, type };
  if (en !== undefined) event.event = en;
  if (cid !== undefined) event.anonymous_id = cid;
  if (uid !== undefined) event.user_id = uid;
  event.timestamp = received;
  event.received_at = received;
  event.source = { id: tid, protocol: 'ga4' };
  event.context = readContext(p);
  event.properties = properties;
  event.traits = traits;
  event.schema_version = SCHEMA_VERSION;
  const parsed: ParsedEvent = { event, consent: readConsent(p), raw: typeof raw === 'string' ? raw : null };
  if (typeof raw !== 'string') {
    let text: string | undefined;
    Object.defineProperty(parsed, 'raw', { get: () => (text ??= raw()), enumerable: true, configurable: true });
  }
  if (errors.length) parsed.error = errors.join('; ');
  return parsed;
}

function readContext(p: URLSearchParams): EventContext {
  // Built key by key (absent values never set) rather than compacted copies: one object each, same key order.
  const ctx: EventContext = {};
  const dl = get(p, 'dl');
  const page: NonNullable<EventContext['page']> = {};
  if (dl !== undefined) {
    page.url = dl;
    const parts = pageParts(dl);
    if (parts.host !== undefined) page.host = parts.host;
    if (parts.path !== undefined) page.path = parts.path;
    // An empty query string is no search at all.
    if (parts.search) page.search = parts.search;
  }
  const dr = get(p, 'dr');
  if (dr !== undefined) page.referrer = dr;
  const dt = get(p, 'dt');
  if (dt !== undefined) page.title = dt;
  if (nonEmpty(page)) ctx.page = page;
  const ul = get(p, 'ul');
  if (ul !== undefined) ctx.locale = ul;
  const sr = /^(\d{1,6})x(\d{1,6})$/.exec(p.get('sr') ?? '');
  if (sr) ctx.screen = { width: Number(sr[1]), height: Number(sr[2]) };
  const session: NonNullable<EventContext['session']> = {};
  const sid = get(p, 'sid');
  if (sid !== undefined) session.id = sid;
  const sct = toNumber(p.get('sct'));
  if (sct !== undefined) session.number = sct;
  const seg = p.get('seg');
  if (seg === '1' || seg === '0') session.engaged = seg === '1';
  if (nonEmpty(session)) ctx.session = session;
  return ctx;
}

function readConsent(p: URLSearchParams): ConsentSignals {
  const c: ConsentSignals = compact({
    gcs: get(p, 'gcs'),
    gcd: get(p, 'gcd'),
    npa: get(p, 'npa'),
    dma: get(p, 'dma'),
    dmaCps: get(p, 'dma_cps'),
    // gtag's IAB TCF integration forwards the CMP's answer as gdpr / gdpr_consent.
    tcString: get(p, 'gdpr_consent'),
    gdprApplies: p.get('gdpr') === '1' ? true : p.get('gdpr') === '0' ? false : undefined,
  });
  return c;
}

/** `pr1`…`prN` (collected by parseHit) → items ordered by N. Each is `key~value` tokens: a 2-char code then the value. */
function readItems(found: { n: number; value: string }[], errors: string[]): Record<string, unknown>[] {
  if (found.length === 0) return [];
  found.sort((a, b) => a.n - b.n);
  return found.map(({ value }) => {
    const item: Record<string, unknown> = {};
    const customKeys: Record<string, string> = {};
    const customValues: Record<string, string> = {};
    for (const token of value.split('~')) {
      if (token.length < 2) continue;
      const code = token.slice(0, 2);
      const v = token.slice(2);
      if (ITEM_FIELDS[code]) {
        if (v !== '') item[ITEM_FIELDS[code]] = v;
      } else if (ITEM_NUMBER_FIELDS[code]) {
        const n = toNumber(v);
        if (n !== undefined) item[ITEM_NUMBER_FIELDS[code]] = n;
      } else if (/^k\d$/.test(code)) {
        customKeys[code.slice(1)] = v;
      } else if (/^v\d$/.test(code)) {
        customValues[code.slice(1)] = v;
      }
    }
    // Custom item parameters come as kN (name) and vN (value) with the same N.
    for (const [i, name] of Object.entries(customKeys)) {
      if (isForbiddenName(name)) {
        errors.push(`forbidden item parameter name "${name}"`);
        continue;
      }
      if (name === '' || customValues[i] === undefined || Object.hasOwn(item, name)) continue;
      item[name] = customValues[i];
    }
    return item;
  });
}
