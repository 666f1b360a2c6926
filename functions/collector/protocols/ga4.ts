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
import { MAX_ID_LENGTH, compact, hashId, isForbiddenName, isoTime, nonEmpty, pageParts, toNumber } from './common';
import { type Pairs, firstValues, overridePairs, parsePairs } from './urlencoded';

export interface Ga4Request {
  method: 'GET' | 'POST';
  /** The URL's query string, as received (without the `?`). */
  query: string;
  body: string | null;
  receivedAt: Date;
}

export interface Ga4ParseResult {
  measurementId: string;
  events: ParsedEvent[];
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

/** Up to this many parameters (a gtag hit has 15–40), looking a name up scans the list; beyond, a map is built. */
const MAX_SCANNED_PARAMS = 64;

/**
 * One hit's parameters: every pair in order (for ep.*, up.* and the pr* items), and the first value of a name as
 * URLSearchParams.get answers it.
 */
class HitParams {
  /** For a hit with many parameters, the first value of each by name; a short list is scanned instead. */
  private readonly firsts: Map<string, string> | null;

  constructor(readonly pairs: Pairs) {
    this.firsts = pairs.names.length > MAX_SCANNED_PARAMS ? firstValues(pairs) : null;
  }

  /** The first value of `name`; null when absent. */
  raw(name: string): string | null {
    if (this.firsts) return this.firsts.get(name) ?? null;
    const i = this.pairs.names.indexOf(name);
    return i < 0 ? null : this.pairs.values[i];
  }

  /** The first value of `name`; undefined when absent or empty. */
  get(name: string): string | undefined {
    const v = this.raw(name);
    return v === null || v === '' ? undefined : v;
  }
}

/** Parses one /g/collect request. Throws BadRequestError unless `v=2` and a valid `tid`. */
export function parseGa4(req: Ga4Request): Ga4ParseResult {
  const urlPairs = parsePairs(req.query);
  const url = new HitParams(urlPairs);
  const v = url.raw('v');
  if (v !== '2') {
    throw new BadRequestError(
      v === null ? 'missing "v": GA4 hits carry v=2' : `unsupported protocol version v=${v}: expected v=2 (GA4)`,
    );
  }
  const tid = url.raw('tid');
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
  const received = isoTime(req.receivedAt.getTime());
  // A GET hit's raw text (kept by a quarantine record) is its query string as received.
  const hits: { params: HitParams; line: number; raw: string }[] =
    lines.length === 0
      ? [{ params: url, line: 0, raw: req.query }]
      : lines.map((l, i) => ({ params: new HitParams(overridePairs(urlPairs, parsePairs(l))), line: i, raw: l }));

  const events = hits.map((h) => parseHit(h.params, h.line, h.raw, tid, received));
  // An ep.event_id in the URL applies to every line of a batch; the dedup key must not merge distinct events,
  // so a repeat within one request gets its line number appended (the first keeps the site's id for Meta).
  if (events.length > 1) {
    const seen = new Set<string>();
    events.forEach((e, i) => {
      const id = e.event.event_id as string;
      if (seen.has(id)) e.event.event_id = `${id.slice(0, MAX_ID_LENGTH - 8)}#${hits[i].line}`;
      seen.add(e.event.event_id as string);
    });
  }
  return { measurementId: tid, events };
}

/** Whether the hit asked for GA4's DebugView: `_dbg` (gtag's debug flag) or a truthy `debug_mode` parameter. */
function isDebug(p: HitParams): boolean {
  const dbg = p.raw('_dbg');
  const mode = p.raw('ep.debug_mode') ?? p.raw('epn.debug_mode');
  return (dbg !== null && dbg !== '0') || (mode !== null && mode !== '0' && mode !== 'false');
}

/** `pr1`…`pr200`: the item's number, or 0 for any other name starting with `pr`. */
function itemNumber(key: string): number {
  if (key.length < 3 || key.length > 5 || key.charCodeAt(1) !== 114 /* r */) return 0;
  let n = 0;
  for (let i = 2; i < key.length; i++) {
    const d = key.charCodeAt(i) - 48;
    if (d < 0 || d > 9 || (i === 2 && d === 0)) return 0;
    n = n * 10 + d;
  }
  return n <= MAX_ITEMS ? n : 0;
}

function parseHit(p: HitParams, line: number, raw: string, tid: string, received: string): ParsedEvent {
  const errors: string[] = [];
  const en = p.get('en');
  const type = en === 'page_view' ? 'page' : 'track';
  if (en === undefined) errors.push('event line has no "en" (event name)');
  else if (en.length > MAX_ID_LENGTH) errors.push(`event name over ${MAX_ID_LENGTH} chars`);

  const properties: Record<string, unknown> = {};
  const traits: Record<string, unknown> = {};
  // One pass over the parameters, in order (a repeated ep.* name keeps its last value), for ep.*, up.* and pr*.
  const itemTexts: { n: number; value: string }[] = [];
  const { names, values } = p.pairs;
  for (let i = 0; i < names.length; i++) {
    const key = names[i];
    const c0 = key.charCodeAt(0);
    // Only names starting with e, u or p matter here.
    if (c0 !== 101 && c0 !== 117 && c0 !== 112) continue;
    const value = values[i];
    if (c0 === 112) {
      const n = itemNumber(key);
      if (n > 0 && value !== '') itemTexts.push({ n, value });
      continue;
    }
    const numeric = key.startsWith(c0 === 101 ? 'epn.' : 'upn.');
    if (!numeric && !key.startsWith(c0 === 101 ? 'ep.' : 'up.')) continue;
    const target = c0 === 101 ? properties : traits;
    const name = key.slice(numeric ? 4 : 3);
    if (name === '') continue;
    if (isForbiddenName(name)) {
      errors.push(`forbidden parameter name "${key}"`);
      continue;
    }
    if (numeric) {
      const n = toNumber(value);
      if (n !== undefined) target[name] = n;
    } else {
      target[name] = value;
    }
  }
  const et = toNumber(p.raw('_et'));
  if (et !== undefined) properties.engagement_time_msec = et;
  const cu = p.get('cu');
  if (cu !== undefined) properties.currency = cu;
  // DebugView traffic (a site's test sessions) stays recognizable in the warehouse, so models can leave it out.
  if (isDebug(p)) properties.debug_mode = true;
  const items = readItems(itemTexts, errors);
  if (items.length > 0) properties.items = items;

  const givenId = p.get('ep.event_id');
  let eventId: string;
  if (givenId !== undefined && givenId.length <= MAX_ID_LENGTH) {
    eventId = givenId;
  } else {
    if (givenId !== undefined) errors.push(`ep.event_id over ${MAX_ID_LENGTH} chars`);
    // gtag numbers hits within a page load (_p = page load id, _s = hit sequence), so a retransmitted hit
    // hashes the same. Without both, distinct hits could collide, so the receive time joins the hash.
    const pageLoad = p.raw('_p') ?? '';
    const seq = p.raw('_s') ?? '';
    const parts = [tid, p.raw('cid') ?? '', p.raw('sid') ?? '', pageLoad, seq, String(line), en ?? ''];
    if (pageLoad === '' && seq === '') parts.push(received);
    eventId = hashId('ga4-', parts);
  }

  const cid = p.get('cid');
  const uid = p.get('uid');
  if (cid && cid.length > MAX_ID_LENGTH) errors.push(`cid over ${MAX_ID_LENGTH} chars`);
  if (uid && uid.length > MAX_ID_LENGTH) errors.push(`uid over ${MAX_ID_LENGTH} chars`);

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
  const parsed: ParsedEvent = { event, consent: readConsent(p), raw };
  if (errors.length) parsed.error = errors.join('; ');
  return parsed;
}

function readContext(p: HitParams): EventContext {
  // Built key by key (absent values never set) rather than compacted copies: one object each, same key order.
  const ctx: EventContext = {};
  const dl = p.get('dl');
  const page: NonNullable<EventContext['page']> = {};
  if (dl !== undefined) {
    page.url = dl;
    const parts = pageParts(dl);
    if (parts.host !== undefined) page.host = parts.host;
    if (parts.path !== undefined) page.path = parts.path;
    // An empty query string is no search at all.
    if (parts.search) page.search = parts.search;
  }
  const dr = p.get('dr');
  if (dr !== undefined) page.referrer = dr;
  const dt = p.get('dt');
  if (dt !== undefined) page.title = dt;
  if (nonEmpty(page)) ctx.page = page;
  const ul = p.get('ul');
  if (ul !== undefined) ctx.locale = ul;
  const sr = /^(\d{1,6})x(\d{1,6})$/.exec(p.raw('sr') ?? '');
  if (sr) ctx.screen = { width: Number(sr[1]), height: Number(sr[2]) };
  const session: NonNullable<EventContext['session']> = {};
  const sid = p.get('sid');
  if (sid !== undefined) session.id = sid;
  const sct = toNumber(p.raw('sct'));
  if (sct !== undefined) session.number = sct;
  const seg = p.raw('seg');
  if (seg === '1' || seg === '0') session.engaged = seg === '1';
  if (nonEmpty(session)) ctx.session = session;
  return ctx;
}

function readConsent(p: HitParams): ConsentSignals {
  const c: ConsentSignals = compact({
    gcs: p.get('gcs'),
    gcd: p.get('gcd'),
    npa: p.get('npa'),
    dma: p.get('dma'),
    dmaCps: p.get('dma_cps'),
    // gtag's IAB TCF integration forwards the CMP's answer as gdpr / gdpr_consent.
    tcString: p.get('gdpr_consent'),
    gdprApplies: p.raw('gdpr') === '1' ? true : p.raw('gdpr') === '0' ? false : undefined,
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
