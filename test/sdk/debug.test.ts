/** The debug hub (ring buffer, redaction, filters, deliveries, preview ids) and the /debug routes over HTTP. */
import http from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { DebugHub, cookieValue, type Journey } from '../../functions/collector/debug-hub';
import { debugRoutes } from '../../functions/collector/debug';

let seq = 0;
function journey(
  over: { event?: string; anonymousId?: string; previewId?: string | null; body?: string } = {},
): Journey {
  const id = `req-${++seq}`;
  return {
    id,
    at: new Date(1_790_000_000_000 + seq * 1000).toISOString(),
    protocol: 'segment',
    previewId: over.previewId ?? null,
    raw: {
      method: 'POST',
      path: '/v1/batch',
      headers: {
        'content-type': 'text/plain',
        cookie: 'tp_id=abc; tp_debug=secret',
        authorization: 'Basic d2s6',
        referer: 'https://shop.example.com/checkout?email=jane.doe%40example.com&step=2',
        'x-forwarded-for': '198.51.100.23, 10.0.0.1',
      },
      body: over.body ?? '{"batch":[{"traits":{"email":"jane.doe@example.com"}}]}',
    },
    events: [
      {
        event_id: `evt-${seq}`,
        canonical: {
          event_id: `evt-${seq}`,
          type: 'track',
          event: over.event ?? 'Product Viewed',
          anonymous_id: over.anonymousId ?? 'anon-1',
          properties: { note: 'call me on +44 20 7946 0958', order_id: '100045', sku: 'MUG-1' },
        },
        consent: {
          decision: { analytics: true, ads: true, ad_user_data: true, ad_personalization: false },
          source: 'explicit',
          warnings: [],
        },
        enrichment: { device: { type: 'desktop' }, geo: null, ip: '203.0.113.0', click_ids: {} },
        validation: { ok: true, errors: [] },
        publish: { topic: 'events', ok: true, messageId: `m-${seq}` },
      },
    ],
    response: { status: 200 },
  };
}

describe('DebugHub', () => {
  it('keeps the last N journeys (ring buffer) and forgets their event ids', () => {
    const hub = new DebugHub({ capacity: 3 });
    const all = Array.from({ length: 5 }, () => journey());
    all.forEach((j) => hub.record(j));
    expect(hub.recent().map((j) => j.id)).toEqual(all.slice(2).map((j) => j.id));
    expect(hub.recordDelivery(all[0].events[0].event_id!, { destination: 'meta', sync: 's', status: 'ok' })).toBe(
      false,
    );
  });

  it('drops cookie and authorization headers and redacts PII everywhere', () => {
    const hub = new DebugHub();
    hub.record(journey());
    const [j] = hub.recent();
    expect(Object.keys(j.raw.headers).sort()).toEqual(['content-type', 'referer', 'x-forwarded-for']);
    expect(j.raw.headers['x-forwarded-for']).toBe('[ip]');
    expect(j.raw.headers.referer).toBe('https://shop.example.com/checkout?email=[email]&step=2');
    expect(j.raw.body).toBe('{"batch":[{"traits":{"email":"[email]"}}]}');
    expect(j.events[0].canonical!.properties).toEqual({ note: 'call me on [phone]', order_id: '100045', sku: 'MUG-1' });
    expect(JSON.stringify(j)).not.toMatch(/jane|7946|secret|198\.51/);
  });

  it('caps the body it keeps', () => {
    const hub = new DebugHub({ bodyChars: 100 });
    hub.record(journey({ body: 'x'.repeat(10_000) }));
    expect(hub.recent()[0].raw.body).toBe(`${'x'.repeat(100)}…[truncated]`);
  });

  it('filters by preview id, anonymous id and event name, for history and live subscribers', () => {
    const hub = new DebugHub();
    const seen: string[] = [];
    const unsubscribe = hub.subscribe({ previewId: 'p1', event: 'Order Completed' }, (m) => {
      if (m.type === 'journey') seen.push(m.journey.id);
    });
    const a = journey({ previewId: 'p1', event: 'Order Completed' });
    const b = journey({ previewId: 'p2', event: 'Order Completed' });
    const c = journey({ previewId: 'p1', event: 'Product Viewed', anonymousId: 'anon-9' });
    [a, b, c].forEach((j) => hub.record(j));
    expect(seen).toEqual([a.id]);
    expect(hub.recent({ anonymousId: 'anon-9' }).map((j) => j.id)).toEqual([c.id]);
    expect(hub.recent({ previewId: 'p1' }).map((j) => j.id)).toEqual([a.id, c.id]);
    unsubscribe();
    hub.record(journey({ previewId: 'p1', event: 'Order Completed' }));
    expect(seen).toEqual([a.id]);
    expect(hub.subscriberCount).toBe(0);
  });

  it('appends deliveries to the journey holding the event and tells subscribers', () => {
    const hub = new DebugHub({ now: () => Date.parse('2026-11-22T10:00:00Z') });
    const got: unknown[] = [];
    hub.subscribe({}, (m) => m.type === 'delivery' && got.push(m));
    const j = journey();
    hub.record(j);
    const delivery = {
      destination: 'meta_capi',
      sync: 'purchases',
      status: 'ok',
      httpStatus: 200,
      response: 'events_received=1',
    };
    expect(hub.recordDelivery('evt-' + j.id.slice(4), delivery)).toBe(true);
    const expected = { ...delivery, at: '2026-11-22T10:00:00.000Z', event_id: 'evt-' + j.id.slice(4) };
    expect(hub.recent()[0].deliveries).toEqual([expected]);
    expect(got).toEqual([{ type: 'delivery', journeyId: j.id, delivery: expected }]);
  });

  it('accepts only preview ids it issued and that have not expired', () => {
    let now = 0;
    const hub = new DebugHub({ previewTtlMs: 1000, maxPreviews: 2, now: () => now });
    const id = hub.createPreview();
    expect(id).toMatch(/^[A-Za-z0-9_-]{24}$/);
    expect(hub.previewAllowed(`a=1; tp_debug=${id}; b=2`)).toBe(id);
    expect(hub.previewAllowed('tp_debug=forged')).toBeNull();
    expect(hub.previewAllowed(undefined)).toBeNull();
    now = 1000;
    expect(hub.previewAllowed(`tp_debug=${id}`)).toBeNull();
    // bounded: the oldest is forgotten
    const [x, y, z] = [hub.createPreview(), hub.createPreview(), hub.createPreview()];
    expect([x, y, z].map((p) => hub.previewAllowed(`tp_debug=${p}`))).toEqual([null, y, z]);
  });

  it('signs preview ids with a secret, so any instance sharing it accepts them', () => {
    let now = 1_000_000;
    const a = new DebugHub({ previewTtlMs: 1000, now: () => now });
    const b = new DebugHub({ now: () => now });
    const stranger = new DebugHub({ now: () => now });
    a.setPreviewSecret('shared-token-1');
    b.setPreviewSecret('shared-token-1');
    stranger.setPreviewSecret('other-token-2');
    const id = a.createPreview();
    expect(b.previewAllowed(`tp_debug=${id}`)).toBe(id);
    expect(stranger.previewAllowed(`tp_debug=${id}`)).toBeNull();
    // a longer expiry cannot be forged
    const [nonce, , mac] = id.split('.');
    expect(b.previewAllowed(`tp_debug=${nonce}.${(now + 9e9).toString(36)}.${mac}`)).toBeNull();
    b.revokePreview(id);
    expect(b.previewAllowed(`tp_debug=${id}`)).toBeNull();
    expect(a.previewAllowed(`tp_debug=${id}`)).toBe(id);
    now += 1000;
    expect(a.previewAllowed(`tp_debug=${id}`)).toBeNull();
  });

  it('parses cookie headers', () => {
    expect(cookieValue('a=1; tp_debug=xyz', 'tp_debug')).toBe('xyz');
    expect(cookieValue('xtp_debug=1', 'tp_debug')).toBeNull();
  });
});

interface Res {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

function request(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
  return new Promise<Res>((resolve, reject) => {
    const req = http.request(url, { method: init.method ?? 'GET', headers: init.headers }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** Reads an SSE stream until `until` holds for the text so far, then closes it. */
function readStream(
  url: string,
  headers: Record<string, string>,
  until: (text: string) => boolean,
  onOpen?: () => void,
) {
  return new Promise<{ status: number; text: string }>((resolve, reject) => {
    const req = http.get(url, { headers }, (res) => {
      let text = '';
      if (res.statusCode !== 200) {
        res.resume();
        return resolve({ status: res.statusCode ?? 0, text });
      }
      onOpen?.();
      res.on('data', (c: Buffer) => {
        text += c.toString();
        if (until(text)) {
          req.destroy();
          resolve({ status: 200, text });
        }
      });
    });
    req.on('error', (e) => (req.destroyed ? undefined : reject(e)));
  });
}

function events(text: string): Array<{ type: string; journey?: Journey }> {
  return text
    .split('\n\n')
    .map((block) => block.split('\n').find((l) => l.startsWith('data: ')))
    .filter((l): l is string => !!l)
    .map((l) => JSON.parse(l.slice(6)) as { type: string; journey?: Journey });
}

async function serve(opts: { token: string | null; mode: 'local' | 'gcp' }) {
  const hub = new DebugHub();
  const app: FastifyInstance = Fastify();
  debugRoutes(app, { hub, ...opts });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { hub, app, url };
}

describe('/debug routes', () => {
  const apps: FastifyInstance[] = [];
  afterAll(async () => Promise.all(apps.map((a) => a.close())));

  it('with a token: locked until enabled, then shows only this browser’s traffic', async () => {
    const { hub, app, url } = await serve({ token: 'correct-horse-battery', mode: 'gcp' });
    apps.push(app);
    const pageLocked = await request(`${url}/debug`);
    expect(pageLocked.status).toBe(200);
    expect(pageLocked.body).toContain('data-access="locked"');
    expect((await request(`${url}/debug/journeys`)).status).toBe(401);
    expect((await request(`${url}/debug/stream`)).status).toBe(401);

    const wrong = await request(`${url}/debug/enable`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'nope-nope-nope' }),
    });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['set-cookie']).toBeUndefined();

    const ok = await request(`${url}/debug/enable`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: 'correct-horse-battery' }),
    });
    expect(ok.status).toBe(200);
    const setCookie = String(ok.headers['set-cookie']);
    expect(setCookie).toMatch(/^tp_debug=[A-Za-z0-9_.-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(';')[0];
    const previewId = cookie.split('=')[1];

    hub.record(journey({ previewId, event: 'Mine' }));
    hub.record(journey({ previewId: null, event: 'Someone else' }));
    const page = await request(`${url}/debug`, { headers: { cookie } });
    expect(page.body).toContain('data-access="preview"');
    const list = JSON.parse((await request(`${url}/debug/journeys`, { headers: { cookie } })).body) as {
      journeys: Journey[];
    };
    expect(list.journeys.map((j) => j.events[0].canonical!.event)).toEqual(['Mine']);

    // live: history first, then new journeys of this preview only
    const stream = readStream(
      `${url}/debug/stream`,
      { cookie },
      (t) => events(t).length >= 2,
      () =>
        setTimeout(() => {
          hub.record(journey({ previewId: null, event: 'Other live' }));
          hub.record(journey({ previewId, event: 'Mine live' }));
        }, 50),
    );
    const { text } = await stream;
    expect(events(text).map((e) => e.journey!.events[0].canonical!.event)).toEqual(['Mine', 'Mine live']);

    // bearer header works for scripts; disable revokes the preview
    const bearer = await request(`${url}/debug/enable`, {
      method: 'POST',
      headers: { authorization: 'Bearer correct-horse-battery' },
    });
    expect(bearer.status).toBe(200);
    await request(`${url}/debug/disable`, { method: 'POST', headers: { cookie } });
    expect((await request(`${url}/debug/journeys`, { headers: { cookie } })).status).toBe(401);
  });

  it('slows token guessing: after 10 wrong tokens in a minute even the right one waits', async () => {
    const { app, url } = await serve({ token: 'right-token-123', mode: 'gcp' });
    apps.push(app);
    const attempt = (token: string) =>
      request(`${url}/debug/enable`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    for (let i = 0; i < 10; i++) expect((await attempt(`wrong-${i}-xxxx`)).status).toBe(401);
    const limited = await attempt('right-token-123');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThan(0);
    expect(limited.headers['set-cookie']).toBeUndefined();
  });

  it('without a token: open in local mode (all traffic, filters apply), off in gcp mode', async () => {
    const local = await serve({ token: null, mode: 'local' });
    const gcp = await serve({ token: null, mode: 'gcp' });
    apps.push(local.app, gcp.app);
    local.hub.record(journey({ event: 'A', anonymousId: 'anon-a' }));
    local.hub.record(journey({ event: 'B', anonymousId: 'anon-b', previewId: 'whatever' }));
    const all = JSON.parse((await request(`${local.url}/debug/journeys`)).body) as { journeys: Journey[] };
    expect(all.journeys).toHaveLength(2);
    const stream = await readStream(`${local.url}/debug/stream?event=B`, {}, (t) => events(t).length >= 1);
    expect(events(stream.text).map((e) => e.journey!.events[0].canonical!.anonymous_id)).toEqual(['anon-b']);
    const byAnon = JSON.parse((await request(`${local.url}/debug/journeys?anonymous_id=anon-a`)).body) as {
      journeys: Journey[];
    };
    expect(byAnon.journeys.map((j) => j.events[0].canonical!.event)).toEqual(['A']);

    expect((await request(`${gcp.url}/debug`)).status).toBe(404);
    expect((await request(`${gcp.url}/debug/stream`)).status).toBe(404);
    expect((await request(`${gcp.url}/debug/enable`, { method: 'POST' })).status).toBe(404);
  });

  it('unsubscribes when the browser goes away', async () => {
    const { hub, app, url } = await serve({ token: null, mode: 'local' });
    apps.push(app);
    await readStream(`${url}/debug/stream`, {}, (t) => t.includes('retry:'));
    for (let i = 0; i < 50 && hub.subscriberCount > 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(hub.subscriberCount).toBe(0);
  });
});
