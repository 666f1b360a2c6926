import fs from 'node:fs';
import path from 'node:path';
import { parseConfig } from '../../../src/core/config';
import { normalizeConsent } from '../../../src/core/consent';
import { BadRequestError } from '../../../src/core/errors';
import { parseGa4, type Ga4Request } from './ga4';
import { structuralProblems } from './testing';

const receivedAt = new Date('2026-11-22T12:00:00.000Z');
const FIXTURES = path.join(__dirname, '../../../test/fixtures/ga4');

interface Fixture {
  method: 'GET' | 'POST';
  url: string;
  body: string | null;
}

function fixture(name: string): Ga4Request {
  const f = JSON.parse(fs.readFileSync(path.join(FIXTURES, name), 'utf8')) as Fixture;
  return { method: f.method, query: new URL(f.url).search.slice(1), body: f.body, receivedAt };
}

function hit(query: string, body: string | null = null, method: 'GET' | 'POST' = body === null ? 'GET' : 'POST') {
  return parseGa4({ method, query, body, receivedAt });
}

const BASE = 'v=2&tid=G-TEST123456&cid=111.222&sid=1700000000&_p=42&_s=1';

describe('parseGa4: captured hits', () => {
  it('parses a single page_view GET', () => {
    const result = parseGa4(fixture('page_view_get.json'));
    expect(result.measurementId).toBe('G-8TRK2M4QZ1');
    expect(result.events).toHaveLength(1);
    const [e] = result.events;
    expect(e.error).toBeUndefined();
    expect(e.event).toEqual({
      event_id: expect.stringMatching(/^ga4-[0-9a-f]{40}$/),
      type: 'page',
      event: 'page_view',
      anonymous_id: '1234567890.1732291100',
      timestamp: '2026-11-22T12:00:00.000Z',
      received_at: '2026-11-22T12:00:00.000Z',
      source: { id: 'G-8TRK2M4QZ1', protocol: 'ga4' },
      context: {
        page: {
          url: 'https://shop.example.com/products/blue-tee?utm_source=newsletter&utm_medium=email&gclid=Cj0KCQiA_test',
          host: 'shop.example.com',
          path: '/products/blue-tee',
          search: '?utm_source=newsletter&utm_medium=email&gclid=Cj0KCQiA_test',
          referrer: 'https://www.google.com/',
          title: 'Blue Tee – Example Shop',
        },
        locale: 'en-us',
        screen: { width: 1920, height: 1080 },
        session: { id: '1732291100', number: 3, engaged: true },
      },
      properties: {},
      traits: {},
      schema_version: 1,
    });
    expect(e.consent).toEqual({ gcd: '13l3l3l3l1l1', npa: '0', dma: '0' });
    expect(structuralProblems(e)).toEqual([]);
  });

  it('parses a batched POST: one event per line over the URL parameters, a line without en quarantined', () => {
    const result = parseGa4(fixture('multi_event_post.json'));
    // The captured hit ran in DebugView (`_dbg=1` in its URL): every event carries it.
    expect(result.events.map((e) => e.event.properties?.debug_mode)).toEqual([true, true, true, true]);
    expect(result.events.map((e) => [e.event.type, e.event.event ?? null, e.error ?? null])).toEqual([
      ['track', 'scroll', null],
      ['track', 'view_item_list', null],
      ['track', 'select_content', null],
      ['track', null, 'event line has no "en" (event name)'],
    ]);
    const [scroll, list, select] = result.events;
    const debug_mode = true;
    expect(scroll.event.properties).toEqual({
      site_section: 'shop',
      percent_scrolled: 90,
      engagement_time_msec: 5123,
      debug_mode,
    });
    expect(list.event.properties).toEqual({
      debug_mode,
      site_section: 'shop',
      item_list_name: 'Summer picks',
      item_list_id: 'summer_picks',
      engagement_time_msec: 812,
      items: [
        { item_id: 'SKU_1001', item_name: 'Linen Shirt', price: 49.9, index: 1 },
        { item_id: 'SKU_1002', item_name: 'Straw Hat', price: 19.5, index: 2 },
      ],
    });
    // The line's ep.site_section overrides the URL's; an unreadable epn. value is left out.
    expect(select.event.properties).toEqual({
      content_type: 'banner',
      site_section: 'hero',
      engagement_time_msec: 40,
      debug_mode,
    });
    for (const e of result.events) {
      expect(e.event.anonymous_id).toBe('1234567890.1732291100');
      expect(e.event.context?.page).toEqual({
        url: 'https://shop.example.com/collections/summer',
        host: 'shop.example.com',
        path: '/collections/summer',
        title: 'Summer collection',
      });
      expect(e.consent).toEqual({ gcs: 'G111', gcd: '13t3t3t3t5l1', npa: '0', dma: '0' });
      expect(structuralProblems(e)).toEqual([]);
    }
    expect(new Set(result.events.map((e) => e.event.event_id)).size).toBe(4);
  });

  it('passes granted consent signals through as sent, with user id and user properties', () => {
    const [e] = parseGa4(fixture('consent_granted.json')).events;
    expect(e.consent).toEqual({ gcs: 'G111', gcd: '13t3t3t3t5l1', npa: '0', dma: '1', dmaCps: 'syphamo' });
    expect(e.event).toMatchObject({
      type: 'page',
      anonymous_id: '987654321.1732291000',
      user_id: 'user-42',
      traits: { plan: 'pro', lifetime_orders: 7 },
      context: { locale: 'fr-fr', session: { id: '1732291000', number: 1, engaged: false } },
    });
    expect(structuralProblems(e)).toEqual([]);
  });

  it('passes denied consent signals through as sent', () => {
    const [e] = parseGa4(fixture('consent_denied.json')).events;
    expect(e.consent).toEqual({ gcs: 'G100', gcd: '13p3p3p2p5l1', npa: '1', dma: '1', dmaCps: '-' });
    expect(e.event.context?.page?.path).toBe('/fr/panier');
  });

  it('hands consent.ts signals that decode to the state the hits declare', () => {
    const policy = parseConfig({}, { cwd: '/nonexistent' }).consent;
    const decide = (name: string) => {
      const c = normalizeConsent(parseGa4(fixture(name)).events[0].consent, { country: 'FR', policy });
      return [c.analytics, c.ads, c.ad_user_data, c.ad_personalization, c.source];
    };
    expect(decide('consent_granted.json')).toEqual([true, true, true, true, 'gcm']);
    expect(decide('consent_denied.json')).toEqual([false, false, false, false, 'gcm']);
  });

  it('parses an ecommerce purchase with items, transaction id, value and currency', () => {
    const result = parseGa4(fixture('purchase_items.json'));
    expect(result.events).toHaveLength(1);
    const [e] = result.events;
    expect(e.error).toBeUndefined();
    expect(e.event.event_id).toBe('evt-7f3c1a9e-purchase');
    expect(e.event).toMatchObject({ type: 'track', event: 'purchase', user_id: 'user-42' });
    expect(e.event.properties).toEqual({
      transaction_id: 'T-20261122-0042',
      event_id: 'evt-7f3c1a9e-purchase',
      value: 149.97,
      tax: 24.99,
      shipping: 4.95,
      coupon: 'WINTER10',
      affiliation: 'Example Shop Online',
      currency: 'EUR',
      engagement_time_msec: 2087,
      items: [
        {
          item_id: 'SKU_1001',
          item_name: 'Linen Shirt',
          affiliation: 'Example Shop Online',
          coupon: 'WINTER10',
          discount: 5,
          index: 0,
          item_brand: 'Example',
          item_category: 'Apparel',
          item_category2: 'Men',
          item_category3: 'Shirts',
          item_variant: 'White',
          price: 49.9,
          quantity: 2,
        },
        {
          item_id: 'SKU_1002',
          item_name: 'Straw Hat',
          item_brand: 'Sunny',
          item_category: 'Accessories',
          price: 19.5,
          quantity: 1,
          material: 'straw',
          made_in: 'Italy',
        },
        // qt "one" is not a number: left out, the item kept.
        { item_id: 'SKU_1003', item_name: 'Beach Towel', item_category: 'Home', item_category2: 'Bath', price: 30.67 },
      ],
    });
    expect(e.event.context?.page).toMatchObject({ path: '/checkout/thank-you', search: '?order=T-20261122-0042' });
    expect(structuralProblems(e)).toEqual([]);
  });
});

describe('parseGa4: request checks', () => {
  it.each([
    ['tid=G-TEST123456&en=x', 'missing "v": GA4 hits carry v=2'],
    ['v=1&tid=G-TEST123456&en=x', 'unsupported protocol version v=1: expected v=2 (GA4)'],
    ['v=2&en=x', 'missing "tid": expected a GA4 measurement id like G-XXXXXXXXXX'],
    ['v=2&tid=UA-12345-1&en=x', 'invalid tid "UA-12345-1": expected a GA4 measurement id like G-XXXXXXXXXX'],
    ['v=2&tid=G-&en=x', 'invalid tid "G-": expected a GA4 measurement id like G-XXXXXXXXXX'],
  ])('refuses %s', (query, message) => {
    expect(() => hit(query)).toThrow(BadRequestError);
    expect(() => hit(query)).toThrow(message);
  });

  it('reads the event from the URL for GET and for a POST with an empty body', () => {
    expect(hit(`${BASE}&en=page_view`).events.map((e) => e.event.event)).toEqual(['page_view']);
    expect(hit(`${BASE}&en=page_view`, '  \r\n', 'POST').events.map((e) => e.event.event)).toEqual(['page_view']);
    // A GET never reads a body.
    expect(hit(`${BASE}&en=page_view`, 'en=other', 'GET').events.map((e) => e.event.event)).toEqual(['page_view']);
  });
});

describe('parseGa4: repeated names', () => {
  it.each([10, 200])(
    'reads the first value of a repeated name, as URLSearchParams does, with %i other parameters',
    (n) => {
      const extra = Array.from({ length: n }, (_, i) => `ep.p${i}=${i}`).join('&');
      const [e] = hit(`${BASE}&en=first&cu=EUR&${extra}&en=second&cu=USD&ep.p0=last`).events;
      expect(e.event.event).toBe('first');
      expect(e.event.properties?.currency).toBe('EUR');
      // ep.* are read in order: a repeated property keeps its last value.
      expect(e.event.properties?.p0).toBe('last');
      expect(Object.keys(e.event.properties ?? {})).toHaveLength(n + 1);
    },
  );
});

describe('parseGa4: event ids', () => {
  it('uses ep.event_id when the site sets it', () => {
    expect(hit(`${BASE}&en=purchase&ep.event_id=abc-1`).events[0].event.event_id).toBe('abc-1');
  });

  it('derives the same id for a retransmitted hit and a new one when the hit differs', () => {
    const id = (q: string, at = receivedAt) =>
      parseGa4({ method: 'GET', query: q, body: null, receivedAt: at }).events[0].event.event_id;
    const first = id(`${BASE}&en=scroll`);
    expect(id(`${BASE}&en=scroll`, new Date('2026-11-22T12:00:07.000Z'))).toBe(first);
    expect(id(`${BASE.replace('_s=1', '_s=2')}&en=scroll`)).not.toBe(first);
    expect(id(`${BASE}&en=click`)).not.toBe(first);
    expect(id(`${BASE.replace('cid=111.222', 'cid=333.444')}&en=scroll`)).not.toBe(first);
    expect(id(`${BASE.replace('tid=G-TEST123456', 'tid=G-OTHER12345')}&en=scroll`)).not.toBe(first);
  });

  it('adds the receive time to the id when a hit has neither _p nor _s', () => {
    const q = 'v=2&tid=G-TEST123456&cid=1.2&en=scroll';
    const at = (iso: string) =>
      parseGa4({ method: 'GET', query: q, body: null, receivedAt: new Date(iso) }).events[0].event.event_id;
    expect(at('2026-11-22T12:00:00.000Z')).not.toBe(at('2026-11-22T12:00:01.000Z'));
  });

  it('keeps ids distinct when a URL-level ep.event_id applies to several lines', () => {
    const ids = hit(`${BASE}&ep.event_id=shared`, 'en=a\nen=b\nen=c').events.map((e) => e.event.event_id);
    expect(ids).toEqual(['shared', 'shared#1', 'shared#2']);
  });

  it('quarantines an over-long ep.event_id', () => {
    const e = hit(`${BASE}&en=x&ep.event_id=${'a'.repeat(201)}`).events[0];
    expect(e.error).toBe('ep.event_id over 200 chars');
    expect(e.event.event_id).toMatch(/^ga4-/);
  });
});

describe('parseGa4: parameters', () => {
  it('keeps numbers only when they read as finite numbers', () => {
    const q = `${BASE}&en=x&epn.a=-3.5&epn.b=1e3&epn.c=abc&epn.d=&epn.e=Infinity&epn.f=1e999&epn.g=0x10&epn.h=.5`;
    expect(hit(q).events[0].event.properties).toEqual({ a: -3.5, b: 1000, h: 0.5 });
  });

  it('maps up./upn. to traits and uid to user id', () => {
    const e = hit(`${BASE}&en=x&uid=u1&up.tier=gold&upn.age=41&upn.bad=x`).events[0];
    expect(e.event.user_id).toBe('u1');
    expect(e.event.traits).toEqual({ tier: 'gold', age: 41 });
  });

  it('orders items by their number and ignores malformed tokens', () => {
    const q = `${BASE}&en=add_to_cart&pr10=idC&pr2=idB~x~zz&pr1=idA~k0color~v0red~k1size&pr0=idZ&pr201=idY`;
    expect(hit(q).events[0].event.properties?.items).toEqual([
      { item_id: 'A', color: 'red' },
      { item_id: 'B' },
      { item_id: 'C' },
    ]);
  });

  it('quarantines forbidden parameter names without polluting any prototype', () => {
    const e = hit(`${BASE}&en=x&ep.__proto__=polluted&ep.ok=1`).events[0];
    expect(e.error).toBe('forbidden parameter name "ep.__proto__"');
    expect(Object.getPrototypeOf(e.event.properties)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const item = hit(`${BASE}&en=x&pr1=idA~k0constructor~v0x`).events[0];
    expect(item.error).toBe('forbidden item parameter name "constructor"');
  });

  it('marks DebugView hits with properties.debug_mode = true (_dbg, or a truthy debug_mode parameter)', () => {
    const debugMode = (q: string) => hit(`${BASE}&en=x${q}`).events[0].event.properties?.debug_mode;
    expect(debugMode('&ep.debug_mode=true')).toBe(true);
    expect(debugMode('&epn.debug_mode=1')).toBe(true);
    expect(debugMode('&_dbg=1')).toBe(true);
    expect(debugMode('&ep.debug_mode=false')).toBe('false');
    expect(debugMode('&_dbg=0')).toBeUndefined();
    expect(debugMode('')).toBeUndefined();
  });

  it('reads the TCF answer gtag forwards as gdpr and gdpr_consent', () => {
    expect(hit(`${BASE}&en=x&gdpr=1&gdpr_consent=CPabc`).events[0].consent).toEqual({
      tcString: 'CPabc',
      gdprApplies: true,
    });
  });

  it('ignores a malformed screen size and an unparseable page URL', () => {
    const e = hit(`${BASE}&en=x&sr=wide&dl=not%20a%20url`).events[0];
    expect(e.event.context?.screen).toBeUndefined();
    expect(e.event.context?.page).toEqual({ url: 'not a url' });
  });
});
