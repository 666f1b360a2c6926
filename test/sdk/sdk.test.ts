/** tagpipe.js behaviour against a fake window: stub queue, wire format, batching, retry, storage bound, consent. */
import { chunk, createTagpipe, install, readGcm, type Message, type Tagpipe } from '../../sdk/src/core';
import { FakeWindow, settle } from './fake-window';

function setup(init: Record<string, unknown> = {}, prepare?: (w: FakeWindow) => void) {
  const w = new FakeWindow();
  prepare?.(w);
  const tp = createTagpipe(w, 'https://collect.example.com');
  tp('init', { writeKey: 'wk_1', ...init });
  return { w, tp };
}

/** The documented snippet's stub, as a page runs it before /sdk.js arrives. */
function stub(): Tagpipe {
  const q: ArrayLike<unknown>[] = [];
  const fn = function (...args: unknown[]) {
    // the snippet pushes the `arguments` object itself
    q.push(args);
  } as unknown as Tagpipe;
  fn.q = q;
  return fn;
}

describe('stub queue before load', () => {
  it('replays calls queued by the snippet in order, with consent applied from where it was called', async () => {
    const w = new FakeWindow();
    w.tagpipe = stub();
    w.tagpipe('track', 'Early');
    w.tagpipe('consent', { analytics: true, ads: false, ad_user_data: false, ad_personalization: false });
    w.tagpipe('init', { writeKey: 'wk_1', flushAt: 2 });
    w.tagpipe('page', 'Home', { section: 'shop' });
    const api = install(w, 'https://collect.example.com');
    expect(w.tagpipe).toBe(api);
    await w.runTimers();
    const [early, page] = w.delivered;
    expect(early).toMatchObject({ type: 'track', event: 'Early' });
    expect(early.context).not.toHaveProperty('consent');
    expect(page).toMatchObject({ type: 'page', name: 'Home', properties: { section: 'shop' } });
    expect((page.context as { consent: unknown }).consent).toEqual({
      analytics: true,
      ads: false,
      ad_user_data: false,
      ad_personalization: false,
    });
  });

  it('keeps the first instance when the script is loaded twice', () => {
    const w = new FakeWindow();
    const first = install(w, '');
    expect(install(w, '')).toBe(first);
  });
});

describe('wire format', () => {
  it('posts a Segment batch with messageId = the returned event_id', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    const id = tp('track', 'Product Viewed', { product_id: 'p1', price: 12.5 });
    expect(id).toBe('00000000-0000-4000-8000-000000000001');
    expect(tp.lastEventId).toBe(id);
    await settle();
    expect(w.requests).toHaveLength(1);
    const { url, init, body } = w.requests[0];
    expect(url).toBe('https://collect.example.com/v1/batch');
    expect(init).toMatchObject({ method: 'POST', credentials: 'include', keepalive: true });
    // CORS-simple content type: no preflight
    expect(init.headers['Content-Type']).toBe('text/plain');
    expect(body.writeKey).toBe('wk_1');
    expect(Number.isNaN(Date.parse(body.sentAt))).toBe(false);
    expect(body.batch).toEqual([
      {
        messageId: id,
        type: 'track',
        event: 'Product Viewed',
        properties: { product_id: 'p1', price: 12.5 },
        timestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown,
        context: {
          library: { name: 'tagpipe.js', version: '0.1.0' },
          page: {
            url: 'https://shop.example.com/products/1?utm_source=news',
            path: '/products/1',
            search: '?utm_source=news',
            title: 'Blue mug',
            referrer: 'https://news.example.org/',
          },
          locale: 'en-GB',
        },
      },
    ]);
  });

  it('uses a caller-supplied event id, so a pixel and the server share one', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    expect(tp('track', 'Order Completed', { order_id: 'o-1' }, { eventId: 'order-o-1' })).toBe('order-o-1');
    await settle();
    expect(w.requests[0].body.batch[0].messageId).toBe('order-o-1');
  });

  it('falls back to a random v4 uuid without crypto.randomUUID (non-secure contexts)', () => {
    const { tp } = setup({}, (w) => (w.crypto = {} as FakeWindow['crypto']));
    const a = tp('track', 'A') as string;
    const b = tp('track', 'B') as string;
    expect(a).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(a).not.toBe(b);
  });

  it('identify sets userId on later events; page accepts props without a name; endpoint option wins', async () => {
    const { w, tp } = setup({ flushAt: 3, endpoint: 'https://t.shop.example.com/' });
    tp('identify', 'u-42', { plan: 'pro' });
    tp('page', { section: 'cart' });
    tp('track', 'Checkout Started');
    await settle();
    expect(w.requests[0].url).toBe('https://t.shop.example.com/v1/batch');
    const [identify, page, track] = w.requests[0].body.batch;
    expect(identify).toMatchObject({ type: 'identify', userId: 'u-42', traits: { plan: 'pro' } });
    expect(page).toMatchObject({ type: 'page', properties: { section: 'cart' }, userId: 'u-42' });
    expect(page.name).toBeUndefined();
    expect(track).toMatchObject({ userId: 'u-42' });
  });

  it('sets no cookie and keeps no anonymous id unless the site opts in', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    tp('track', 'A');
    await settle();
    expect(w.requests[0].body.batch[0]).not.toHaveProperty('anonymousId');
    expect([...w.storage.keys()]).toEqual([]);

    const opted = setup({ flushAt: 1, anonymousId: true });
    opted.tp('track', 'A');
    opted.tp('track', 'B');
    await settle();
    const [a, b] = opted.w.requests.flatMap((r) => r.body.batch.map((m) => m.anonymousId));
    expect(a).toBe(opted.w.storage.get('tp_aid'));
    expect(b).toBe(a);
  });

  it('has one request in flight at a time; what is tracked meanwhile goes in the next one', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    const answers: Array<() => void> = [];
    const fetch = w.fetch;
    // Answers wait until the test releases them, as a slow network would make them.
    w.fetch = (url, init) => {
      const sent = fetch(url, init);
      return new Promise((resolve) => answers.push(() => resolve(sent)));
    };
    tp('track', 'A');
    await settle();
    tp('track', 'B');
    tp('track', 'C');
    await settle();
    // The first answer (which sets the first-party cookie) has not arrived: nothing else is sent yet.
    expect(w.requests.map((r) => r.body.batch.map((m) => m.event))).toEqual([['A']]);
    answers.shift()!();
    await settle();
    expect(w.requests.map((r) => r.body.batch.map((m) => m.event))).toEqual([['A'], ['B', 'C']]);
    answers.shift()!();
    await settle();
    expect(w.requests).toHaveLength(2);
    expect(w.delivered.map((m) => m.event)).toEqual(['A', 'B', 'C']);
  });

  it('sends context.gpc only when the browser signals GPC and honorGpc is set', async () => {
    const on = setup({ flushAt: 1, honorGpc: true }, (w) => (w.navigator.globalPrivacyControl = true));
    const off = setup({ flushAt: 1 }, (w) => (w.navigator.globalPrivacyControl = true));
    const unsignalled = setup({ flushAt: 1, honorGpc: true });
    for (const s of [on, off, unsignalled]) s.tp('track', 'A');
    await settle();
    expect(on.w.requests[0].body.batch[0].context).toMatchObject({ gpc: true });
    expect(off.w.requests[0].body.batch[0].context).not.toHaveProperty('gpc');
    expect(unsignalled.w.requests[0].body.batch[0].context).not.toHaveProperty('gpc');
  });
});

describe('batching', () => {
  it('flushes after flushAt events', async () => {
    const { w, tp } = setup({ flushAt: 3 });
    tp('track', 'A');
    tp('track', 'B');
    await settle();
    expect(w.requests).toHaveLength(0);
    tp('track', 'C');
    await settle();
    expect(w.requests).toHaveLength(1);
    expect(w.requests[0].body.batch.map((m) => m.event)).toEqual(['A', 'B', 'C']);
  });

  it('flushes flushInterval ms after the first unsent event, with one timer for the batch', async () => {
    const { w, tp } = setup({ flushInterval: 2500 });
    tp('track', 'A');
    tp('track', 'B');
    expect(w.timers.map((t) => t.ms)).toEqual([2500]);
    await w.runTimers();
    expect(w.requests).toHaveLength(1);
    expect(w.requests[0].body.batch).toHaveLength(2);
  });

  it('holds events tracked before init and sends them once initialised', async () => {
    const w = new FakeWindow();
    const tp = createTagpipe(w, 'https://collect.example.com');
    tp('track', 'Before');
    await settle();
    expect(w.requests).toHaveLength(0);
    tp('init', { writeKey: 'wk' });
    await settle();
    expect(w.requests[0].body.batch.map((m) => m.event)).toEqual(['Before']);
  });

  it('splits batches to stay under the 500 KB Segment batch limit', () => {
    const big = (i: number): Message => ({
      messageId: String(i),
      type: 'track',
      timestamp: '',
      context: {},
      properties: { blob: 'x'.repeat(30_000) },
    });
    const batches = chunk(
      Array.from({ length: 40 }, (_, i) => big(i)),
      4e5,
    );
    expect(batches.length).toBeGreaterThan(1);
    for (const b of batches) expect(JSON.stringify(b).length).toBeLessThanOrEqual(4e5);
    expect(batches.flat().map((m) => m.messageId)).toEqual(Array.from({ length: 40 }, (_, i) => String(i)));
  });

  it('hands the queue to sendBeacon on pagehide and on visibilitychange to hidden', async () => {
    const { w, tp } = setup();
    tp('track', 'A');
    w.fire('pagehide');
    expect(w.beacons).toHaveLength(1);
    expect(w.beacons[0].url).toBe('https://collect.example.com/v1/batch');
    expect(w.beacons[0].body).toMatchObject({ writeKey: 'wk_1', batch: [{ event: 'A' }] });
    expect(w.timers).toHaveLength(0);

    tp('track', 'B');
    w.document.visibilityState = 'hidden';
    w.fireDocument('visibilitychange');
    expect(w.beacons.map((b) => b.body.batch[0].event)).toEqual(['A', 'B']);
    await settle();
    expect(w.requests).toHaveLength(0);
  });

  it('keeps what the browser refuses to beacon in the retry queue', () => {
    const { w, tp } = setup();
    w.beaconAccepts = false;
    const id = tp('track', 'A');
    w.fire('pagehide');
    expect(w.stored()?.q.map((m) => m.messageId)).toEqual([id]);
  });
});

describe('retry queue', () => {
  it('stores failed sends in localStorage and retries with exponential backoff up to a cap', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    w.answers = ['offline', 503, 503, 503, 503, 503, 503, 503, 503];
    const id = tp('track', 'Order Completed');
    await settle();
    expect(w.stored()).toEqual({ q: [expect.objectContaining({ messageId: id })], d: 0, n: 0 });

    const delays: number[] = [];
    for (let i = 0; i < 8; i++) {
      expect(w.timers).toHaveLength(1);
      delays.push(w.timers[0].ms);
      await w.runTimers();
    }
    // each delay is base * 2^n with 50-100 % jitter, capped at 60 s
    delays.forEach((ms, n) => {
      const nominal = Math.min(60_000, 1000 * 2 ** n);
      expect(ms).toBeGreaterThanOrEqual(nominal / 2);
      expect(ms).toBeLessThanOrEqual(nominal);
    });
    expect(Math.max(...delays)).toBeLessThanOrEqual(60_000);
    expect(w.stored()?.n).toBe(8);

    // the collector is back: the same event (same messageId) goes out once and the queue empties
    await w.runTimers();
    expect(w.delivered.map((m) => m.messageId)).toEqual([id]);
    expect(w.stored()).toEqual({ q: [], d: 0, n: 0 });
    expect(w.timers).toHaveLength(0);
  });

  it('retries on 408 and 429 but drops permanent 4xx rejections', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    w.answers = [429, 408, 400];
    const a = tp('track', 'A');
    await settle();
    const b = tp('track', 'B');
    await settle();
    tp('track', 'C');
    await settle();
    expect(w.stored()?.q.map((m) => m.messageId)).toEqual([a, b]);
  });

  it('bounds the stored queue: drops the oldest and counts them', async () => {
    const { w, tp } = setup({ flushAt: 1, maxStored: 3 });
    w.answers = Array(8).fill('offline') as 'offline'[];
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      ids.push(tp('track', `E${i}`) as string);
      await settle();
    }
    expect(w.stored()?.q.map((m) => m.messageId)).toEqual(ids.slice(2));
    expect(w.stored()?.d).toBe(2);
    expect(tp.dropped).toBe(2);
  });

  it('sends what an earlier page could not deliver, after init', async () => {
    const w = new FakeWindow();
    const old = { messageId: 'from-last-page', type: 'track', event: 'X', timestamp: '', context: {} };
    w.storage.set('tp_q', JSON.stringify({ q: [old], d: 1, n: 4 }));
    const tp = createTagpipe(w, 'https://collect.example.com');
    tp('init', { writeKey: 'wk' });
    expect(w.timers).toHaveLength(1);
    await w.runTimers();
    expect(w.delivered.map((m) => m.messageId)).toEqual(['from-last-page']);
    expect(w.stored()).toEqual({ q: [], d: 1, n: 0 });
  });

  it('keeps events stored while a retry is in flight', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    w.answers = ['offline'];
    const a = tp('track', 'A');
    await settle();
    // the retry succeeds, but B fails while it is in flight
    w.answers = [200, 'offline'];
    const retry = w.runTimers();
    const b = tp('track', 'B');
    await retry;
    await settle();
    expect(w.delivered.map((m) => m.messageId)).toEqual([a]);
    expect(w.stored()?.q.map((m) => m.messageId)).toEqual([b]);
  });

  it('retries at once when the browser comes back online', async () => {
    const { w, tp } = setup({ flushAt: 1 });
    w.answers = ['offline'];
    const id = tp('track', 'A');
    await settle();
    w.fire('online');
    await settle();
    expect(w.delivered.map((m) => m.messageId)).toEqual([id]);
  });

  it('still retries from memory when localStorage is unavailable', async () => {
    const { w, tp } = setup({ flushAt: 1 }, (win) => (win.localStorage = null));
    w.answers = ['offline'];
    const id = tp('track', 'A');
    await settle();
    await w.runTimers();
    expect(w.delivered.map((m) => m.messageId)).toEqual([id]);
  });

  it('survives a full localStorage (quota) by keeping the queue in memory', async () => {
    const { w, tp } = setup({ flushAt: 1 }, (win) => (win.storageQuota = 10));
    w.answers = ['offline'];
    const id = tp('track', 'A');
    await settle();
    expect(w.storage.size).toBe(0);
    await w.runTimers();
    expect(w.delivered.map((m) => m.messageId)).toEqual([id]);
  });
});

describe('consent', () => {
  const granted = (v: boolean) => (v ? 'granted' : 'denied');
  const gtag = (...args: unknown[]) => args;

  it('reads Google Consent Mode default then update commands from dataLayer', () => {
    const dl = [
      gtag('js', new Date()),
      gtag('consent', 'default', {
        analytics_storage: 'denied',
        ad_storage: 'denied',
        ad_user_data: 'denied',
        ad_personalization: 'denied',
      }),
      gtag('config', 'G-XXXX'),
      gtag('consent', 'update', { analytics_storage: granted(true), ad_storage: granted(true) }),
    ];
    expect(readGcm(dl)).toEqual({ analytics: true, ads: true, ad_user_data: false, ad_personalization: false });
  });

  it('ignores region-scoped defaults, which only the collector can resolve', () => {
    const dl = [gtag('consent', 'default', { ad_storage: 'denied', region: ['ES'] })];
    expect(readGcm(dl)).toBeUndefined();
    expect(readGcm(undefined)).toBeUndefined();
    expect(readGcm([gtag('event', 'page_view')])).toBeUndefined();
  });

  it('reads dataLayer at each call, with explicit tagpipe consent winning per purpose', async () => {
    const { w, tp } = setup({ flushAt: 1 }, (win) => {
      win.dataLayer = [gtag('consent', 'default', { analytics_storage: 'granted', ad_storage: 'denied' })];
    });
    tp('track', 'A');
    w.dataLayer!.push(gtag('consent', 'update', { ad_storage: 'granted', ad_user_data: 'granted' }));
    tp('track', 'B');
    tp('consent', { ad_user_data: false });
    tp('track', 'C');
    await settle();
    const sent = w.requests.flatMap((r) => r.body.batch);
    expect(sent.map((m) => (m.context as { consent: unknown }).consent)).toEqual([
      { analytics: true, ads: false },
      { analytics: true, ads: true, ad_user_data: true },
      { analytics: true, ads: true, ad_user_data: false },
    ]);
  });

  it('sends no user or anonymous id while analytics consent is denied', async () => {
    const { w, tp } = setup({ flushAt: 1, anonymousId: true });
    tp('identify', 'u-1');
    tp('consent', { analytics: false, ads: false, ad_user_data: false, ad_personalization: false });
    tp('track', 'Denied');
    tp('consent', { analytics: true });
    tp('track', 'Granted');
    await settle();
    const [, denied, allowed] = w.requests.flatMap((r) => r.body.batch);
    expect(denied).not.toHaveProperty('userId');
    expect(denied).not.toHaveProperty('anonymousId');
    expect(allowed).toMatchObject({ userId: 'u-1', anonymousId: expect.any(String) as unknown });
  });
});
