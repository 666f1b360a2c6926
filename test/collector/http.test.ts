/**
 * The collector over real HTTP against the local stack (embedded bus, lander, Parquet raw tables): protocols,
 * first-party id, consent, CORS, and every kind of bad input getting the right 4xx while valid traffic alongside
 * is unharmed and nothing valid is lost.
 */
import zlib from 'node:zlib';
import { readRaw, startTestStack } from '../helpers/stack';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;

beforeAll(async () => {
  stack = await startTestStack({ TAGPIPE_COOKIE_DOMAIN: 'localhost' });
});
afterAll(async () => {
  await stack?.close();
});

const basic = (key: string) => 'Basic ' + Buffer.from(`${key}:`).toString('base64');

async function post(path: string, body: string | Buffer, headers: Record<string, string> = {}) {
  const res = await fetch(stack.url + path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: basic('dev'), ...headers },
    body,
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, json, headers: res.headers, text };
}

async function landed(eventId: string) {
  await stack.drain();
  return (await readRaw(stack.dataDir, 'events')).filter((r) => r.data.event_id === eventId);
}

describe('Segment API', () => {
  it('accepts a track call with Basic auth and lands it with messageId as event_id and skew-corrected time', async () => {
    const sentAt = new Date(Date.now() + 3600_000).toISOString(); // client clock one hour fast
    const timestamp = new Date(Date.now() + 3600_000 - 5000).toISOString();
    const res = await post(
      '/v1/track',
      JSON.stringify({
        messageId: 'seg-1',
        anonymousId: 'a-1',
        event: 'Order Completed',
        properties: { order_id: 'o-1', revenue: 42.5, currency: 'EUR' },
        timestamp,
        sentAt,
        context: { consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true } },
      }),
    );
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ success: true, accepted: 1, quarantined: 0 });
    const [row] = await landed('seg-1');
    expect(row.data.event).toBe('Order Completed');
    expect(row.data.properties).toEqual({ order_id: 'o-1', revenue: 42.5, currency: 'EUR' });
    expect(row.data.consent).toMatchObject({ analytics: true, ads: true, source: 'explicit' });
    // timestamp = received_at - (sentAt - timestamp): about 5 s before receipt, not an hour in the future.
    const skew = Date.parse(row.data.received_at) - Date.parse(row.data.timestamp);
    expect(skew).toBeGreaterThan(4000);
    expect(skew).toBeLessThan(7000);
    expect(row.attributes).toMatchObject({
      event_id: 'seg-1',
      type: 'track',
      event: 'Order Completed',
      consent_ads: 'true',
    });
  });

  it('takes the write key from the body, and refuses missing or unknown keys with 401', async () => {
    const ok = await post(
      '/v1/identify',
      JSON.stringify({ writeKey: 'dev', userId: 'u-1', messageId: 'seg-2', traits: { plan: 'pro' } }),
      {
        authorization: '',
      },
    );
    expect(ok.status).toBe(200);
    const missing = await post('/v1/track', JSON.stringify({ event: 'x', anonymousId: 'a' }), { authorization: '' });
    expect(missing.status).toBe(401);
    expect(missing.json.error.message).toMatch(/write key/);
    const wrong = await post('/v1/track', JSON.stringify({ event: 'x', anonymousId: 'a' }), {
      authorization: basic('nope'),
    });
    expect(wrong.status).toBe(401);
  });

  it('accepts gzip bodies and analytics.js short paths with text/plain', async () => {
    const body = zlib.gzipSync(
      JSON.stringify({ batch: [{ type: 'page', name: 'Home', messageId: 'seg-gz', anonymousId: 'a-2' }] }),
    );
    const res = await post('/v1/b', body, { 'content-encoding': 'gzip', 'content-type': 'text/plain' });
    expect(res.status).toBe(200);
    expect((await landed('seg-gz'))[0].data.type).toBe('page');
  });
});

describe('vendor SDK endpoints (RudderStack, analytics.js)', () => {
  it('answers /sourceConfig for a known write key (query or Basic auth) and 401 otherwise', async () => {
    const res = await fetch(stack.url + '/sourceConfig/?p=npm&v=3.34.1&build=modern&writeKey=dev');
    expect(res.status).toBe(200);
    const body = (await res.json()) as { source: { id: string } };
    // What RudderStack's SDK requires before it sends anything: a source id, a config object, a destinations list.
    expect(body.source).toMatchObject({ enabled: true, writeKey: 'dev', config: {}, destinations: [] });
    expect(body.source.id).toMatch(/^[0-9a-f]{27}$/);
    const byAuth = await fetch(stack.url + '/sourceConfig', { headers: { authorization: basic('dev') } });
    expect(((await byAuth.json()) as typeof body).source.id).toBe(body.source.id);
    const unknown = await fetch(stack.url + '/sourceConfig/?writeKey=nope');
    expect(unknown.status).toBe(401);
    expect(((await unknown.json()) as { error: unknown }).error).toMatchObject({
      code: 'unauthorized',
      message: 'unknown write key',
    });
    expect((await fetch(stack.url + '/sourceConfig/')).status).toBe(401);
  });

  it('answers analytics.js settings that send its events back to this collector, readable from any page', async () => {
    const res = await fetch(stack.url + '/v1/projects/dev/settings', { headers: { origin: 'https://any.example' } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe('*');
    const settings = (await res.json()) as Record<string, any>;
    expect(settings.integrations).toEqual({
      'Segment.io': { apiKey: 'dev', apiHost: `${new URL(stack.url).host}/v1`, protocol: 'http' },
    });
    expect(settings.metrics).toEqual({ sampleRate: 0 });
    const unknown = await fetch(stack.url + '/v1/projects/nope/settings');
    expect(unknown.status).toBe(404);
  });

  it('serves analytics.js for a known write key, gzipped and revalidated by ETag, and its chunks', async () => {
    const res = await fetch(stack.url + '/analytics.js/v1/dev/analytics.min.js');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/javascript/);
    expect(res.headers.get('content-encoding')).toBe('gzip');
    const script = await res.text();
    expect(script).toContain('analytics-next/bundles/');
    const etag = res.headers.get('etag') ?? '';
    const again = await fetch(stack.url + '/analytics.js/v1/dev/analytics.min.js', {
      headers: { 'if-none-match': etag },
    });
    expect(again.status).toBe(304);
    expect((await fetch(stack.url + '/analytics.js/v1/nope/analytics.min.js')).status).toBe(404);
    // A chunk the script may load later (it builds the content-hashed names from a map of ids to names and
    // hashes); nothing else under that path.
    const id = /(\d+):"queryString"/.exec(script)?.[1];
    const hash = new RegExp(`[{,]${id}:"([0-9a-f]+)"`).exec(script)?.[1];
    expect(hash).toMatch(/^[0-9a-f]{8,}$/);
    const chunkRes = await fetch(`${stack.url}/analytics-next/bundles/queryString.bundle.${hash}.js`);
    expect(chunkRes.status).toBe(200);
    expect(chunkRes.headers.get('cache-control')).toContain('immutable');
    expect((await fetch(`${stack.url}/analytics-next/bundles/..%2Fpackage.json`)).status).toBe(404);
    expect((await fetch(`${stack.url}/analytics-next/bundles/standalone.js`)).status).toBe(404);
  });

  it('lands a sendBeacon batch posted as text/plain with the write key in the query', async () => {
    const batch = [
      { type: 'track', event: 'Beacon Sent', messageId: 'rs-beacon-1', anonymousId: 'rs-a-1', properties: { n: 1 } },
    ];
    const body = JSON.stringify({ batch, sentAt: new Date().toISOString() });
    const refused = await post('/beacon/v1/batch?writeKey=nope', body, {
      'content-type': 'text/plain',
      authorization: '',
    });
    expect(refused.status).toBe(401);
    const res = await post('/beacon/v1/batch?writeKey=dev', body, { 'content-type': 'text/plain', authorization: '' });
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ success: true, accepted: 1 });
    const [row] = await landed('rs-beacon-1');
    expect(row.data).toMatchObject({ event: 'Beacon Sent', properties: { n: 1 }, source: { id: 'dev' } });
  });
});

describe('bad input', () => {
  it('answers each kind of bad input with a clear 4xx and keeps serving valid traffic alongside', async () => {
    const bad: Array<[string, string | Buffer, Record<string, string>, number, RegExp]> = [
      ['/v1/track', '{"event": "x", ', {}, 400, /not valid JSON/],
      ['/v1/track', Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]), {}, 400, /UTF-8/],
      ['/v1/track', '', {}, 400, /empty/],
      ['/v1/track', '[1,2,3]', {}, 400, /object/i],
      [
        '/v1/track',
        JSON.stringify({ event: 'big', anonymousId: 'a', properties: { blob: 'x'.repeat(40_000) } }),
        {},
        413,
        /32 KB/,
      ],
      [
        '/v1/batch',
        JSON.stringify({
          batch: Array.from({ length: 3000 }, (_, i) => ({
            type: 'track',
            event: 'e'.repeat(200),
            messageId: `m${i}`,
          })),
        }),
        {},
        413,
        /500 KB|limit/,
      ],
      ['/v1/batch', JSON.stringify({ batch: 'nope' }), {}, 400, /batch/],
      ['/v1/nope', '{}', {}, 404, /unknown Segment call/],
      ['/v1/track', Buffer.from('not gzip'), { 'content-encoding': 'gzip' }, 400, /gzip/],
    ];
    const valid = Array.from({ length: 20 }, (_, i) =>
      post(
        '/v1/track',
        JSON.stringify({
          messageId: `ok-${i}`,
          anonymousId: 'a',
          event: 'Still Fine',
          context: { consent: { analytics: true, ads: false, ad_user_data: false, ad_personalization: false } },
        }),
      ),
    );
    const results = await Promise.all(bad.map(([path, body, headers]) => post(path, body, headers)));
    results.forEach((res, i) => {
      expect([i, res.status]).toEqual([i, bad[i][3]]);
      expect(res.json?.success).toBe(false);
      expect(res.json.error.message).toMatch(bad[i][4]);
    });
    const oks = await Promise.all(valid);
    expect(oks.map((r) => r.status)).toEqual(Array(20).fill(200));
    await stack.drain();
    const ids = new Set((await readRaw(stack.dataDir)).map((r) => r.data.event_id));
    for (let i = 0; i < 20; i++) expect(ids.has(`ok-${i}`)).toBe(true);
    const health = await fetch(stack.url + '/healthz');
    expect(health.status).toBe(200);
  });

  it('quarantines bad items of a batch with their reasons and lands the rest', async () => {
    const hostile =
      '{"type":"track","event":"Hostile","messageId":"b-3","anonymousId":"a","properties":{"__proto__":{"admin":true}}}';
    const body = `{"writeKey":"dev","batch":[
      {"type":"track","event":"Good","messageId":"b-1","anonymousId":"a"},
      {"type":"track","messageId":"b-2","anonymousId":"a"},
      ${hostile},
      {"type":"spaceship","messageId":"b-4"},
      42,
      {"type":"track","event":"Bad Props","messageId":"b-5","anonymousId":"a","properties":"not an object"}
    ]}`;
    const res = await post('/v1/batch', body);
    expect(res.status).toBe(200);
    expect(res.json).toMatchObject({ success: true, accepted: 1, quarantined: 5 });
    await stack.drain();
    const invalid = await readRaw(stack.dataDir, 'events_invalid');
    const reasons = new Map(
      invalid.map((r) => [r.data.event_id ?? JSON.stringify(r.data.raw), r.data.reason as string]),
    );
    expect(reasons.get('b-2')).toMatch(/event/);
    expect(reasons.get('b-3')).toMatch(/__proto__/);
    expect(reasons.get('b-4')).toMatch(/type/);
    expect(reasons.get('b-5')).toMatch(/properties/);
    expect([...reasons.values()].length).toBeGreaterThanOrEqual(5);
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
    expect(await landed('b-1')).toHaveLength(1);
  });

  it('answers a single invalid call 400 and still keeps it in events-invalid', async () => {
    const res = await post('/v1/track', JSON.stringify({ messageId: 'single-bad', anonymousId: 'a' }));
    expect(res.status).toBe(400);
    expect(res.json.error.code).toBe('invalid_event');
    await stack.drain();
    const invalid = await readRaw(stack.dataDir, 'events_invalid');
    expect(invalid.some((r) => r.data.event_id === 'single-bad')).toBe(true);
  });

  it('takes a huge batch of small events within the limits', async () => {
    const batch = Array.from({ length: 2500 }, (_, i) => ({
      type: 'track',
      event: 'Tick',
      messageId: `huge-${i}`,
      anonymousId: `a${i % 10}`,
    }));
    const res = await post('/v1/batch', JSON.stringify({ batch }));
    expect(res.status).toBe(200);
    expect(res.json.accepted).toBe(2500);
    await stack.drain();
    const ids = new Set(
      (await readRaw(stack.dataDir)).map((r) => r.data.event_id as string).filter((id) => id.startsWith('huge-')),
    );
    expect(ids.size).toBe(2500);
  });
});

describe('GA4, pixel, first-party id and consent', () => {
  const hit = (extra: string) =>
    `/g/collect?v=2&tid=G-TEST123&cid=111.222&sid=1700000001&sct=3&seg=1&_p=99&dl=${encodeURIComponent('https://shop.example.com/p?gclid=Cj0KCQ&fbclid=AbC123&utm_source=news')}&dt=Shoes&${extra}`;

  it('sets the HttpOnly first-party cookie with analytics consent and prefers it on later hits', async () => {
    const first = await fetch(stack.url + hit('en=page_view&_s=1&gcs=G111'), {
      headers: {
        'user-agent':
          'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
      },
    });
    expect(first.status).toBe(204);
    const setCookie = first.headers.get('set-cookie') ?? '';
    expect(setCookie).toMatch(/^tp_id=[\w-]{16,};/);
    expect(setCookie).toMatch(/HttpOnly/);
    expect(setCookie).toMatch(/Secure/);
    expect(setCookie).toMatch(/SameSite=Lax/);
    expect(setCookie).toMatch(/Max-Age=34560000/);
    const id = /^tp_id=([^;]+)/.exec(setCookie)![1];
    const second = await fetch(stack.url + hit('en=view_item&_s=2&gcs=G111'), { headers: { cookie: `tp_id=${id}` } });
    expect(second.status).toBe(204);
    await stack.drain();
    const rows = (await readRaw(stack.dataDir)).filter(
      (r) => r.data.source.protocol === 'ga4' && r.data.consent.analytics,
    );
    const viewItem = rows.find((r) => r.data.event === 'view_item')!;
    expect(viewItem.data.anonymous_id).toBe(id);
    expect(viewItem.data.context.click_ids.gclid).toBe('Cj0KCQ');
    expect(viewItem.data.context.click_ids.fbc).toMatch(/^fb\.\d\.\d{13}\.AbC123$/);
    expect(viewItem.data.context.campaign.source).toBe('news');
    expect(viewItem.data.context.session).toMatchObject({ id: '1700000001', number: 3 });
  });

  it('denied analytics: counts the hit but sets no cookie and keeps no identifiers or IP', async () => {
    const res = await fetch(stack.url + hit('en=page_view&_s=7&gcs=G100&ep.marker=denied-1'), {
      headers: { cookie: 'tp_id=previous-id-1234567890' },
    });
    expect(res.status).toBe(204);
    // An existing id cookie is deleted when consent is withdrawn.
    expect(res.headers.get('set-cookie') ?? '').toMatch(/Max-Age=0/);
    await stack.drain();
    const row = (await readRaw(stack.dataDir)).find((r) => r.data.properties?.marker === 'denied-1')!;
    expect(row.data.consent).toMatchObject({ analytics: false, ads: false, source: 'gcm' });
    expect(row.data.anonymous_id ?? null).toBeNull();
    expect(row.data.user_id ?? null).toBeNull();
    expect(row.data.context.ip ?? null).toBeNull();
    expect(row.data.identifiers).toEqual({});
  });

  it('handles several events in one GA4 POST body', async () => {
    const res = await fetch(
      stack.url + '/g/collect?v=2&tid=G-TEST123&cid=5.6&sid=42&_p=7&gcs=G111&dl=https%3A%2F%2Fa.example%2F',
      {
        method: 'POST',
        headers: { 'content-type': 'text/plain;charset=UTF-8' },
        body: 'en=add_to_cart&_s=3&cu=EUR&epn.value=30&pr1=idSKU1~nmShoe~pr15~qt2\r\nen=begin_checkout&_s=4&epn.value=30',
      },
    );
    expect(res.status).toBe(204);
    await stack.drain();
    const rows = (await readRaw(stack.dataDir)).filter((r) => r.data.context.session?.id === '42');
    expect(rows.map((r) => r.data.event).sort()).toEqual(['add_to_cart', 'begin_checkout']);
    const cart = rows.find((r) => r.data.event === 'add_to_cart')!;
    expect(cart.data.properties.items[0]).toMatchObject({ item_id: 'SKU1', item_name: 'Shoe', price: 15, quantity: 2 });
    expect(cart.data.properties.currency).toBe('EUR');
  });

  it('refuses /g/collect without v=2 and tid', async () => {
    const res = await fetch(stack.url + '/g/collect?v=1&en=page_view');
    expect(res.status).toBe(400);
  });

  it('serves the pixel as a 1x1 GIF and lands its event', async () => {
    const res = await fetch(stack.url + '/p.gif?e=Email%20Opened&t=track&eid=px-1&c=analytics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/gif');
    const gif = Buffer.from(await res.arrayBuffer());
    expect(gif.subarray(0, 6).toString('latin1')).toBe('GIF89a');
    const [row] = await landed('px-1');
    expect(row.data.event).toBe('Email Opened');
    expect(row.data.source.protocol).toBe('pixel');
  });

  it('answers CORS preflights for allowed origins with credentials', async () => {
    const res = await fetch(stack.url + '/v1/batch', {
      method: 'OPTIONS',
      headers: {
        origin: 'https://www.example.com',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(res.status).toBe(204);
    expect(res.headers.get('access-control-allow-origin')).toBe('https://www.example.com');
    expect(res.headers.get('access-control-allow-credentials')).toBe('true');
  });

  it('exposes Prometheus metrics', async () => {
    const text = await (await fetch(stack.url + '/metrics')).text();
    expect(text).toMatch(/tagpipe_events_received_total\{protocol="segment"\} \d+/);
    expect(text).toMatch(/tagpipe_events_published_total\{topic="events"\} \d+/);
    expect(text).toMatch(/tagpipe_events_invalid_total\{reason="[^"]+"\} \d+/);
    expect(text).toMatch(/tagpipe_publish_latency_seconds_bucket/);
  });
});
