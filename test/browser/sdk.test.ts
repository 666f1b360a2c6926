/**
 * tagpipe.js in real headless Chromium against a small recording collector (the SDK, demo and debug routes plus
 * a /v1/batch that keeps every body and can be told to fail). Covers what only a browser shows: the stub
 * snippet racing the async script, credentials and the server's cookie, sendBeacon when leaving the page,
 * the localStorage retry queue across an outage, and the debug page rendering journeys live.
 */
import fs from 'node:fs';
import path from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Browser } from 'playwright-core';
import { DebugHub, type Journey } from '../../functions/collector/debug-hub';
import { debugRoutes } from '../../functions/collector/debug';
import { demoRoutes } from '../../functions/collector/demo';
import { sdkRoutes } from '../../functions/collector/sdk-route';
import { ARTIFACTS, BROWSE_SEQUENCE, PURCHASE_SEQUENCE, batchAnswered, launchChromium, shop } from './browser';

interface Item {
  messageId: string;
  type: string;
  event?: string;
  name?: string;
  userId?: string;
  anonymousId?: string;
  properties?: Record<string, unknown>;
  traits?: Record<string, unknown>;
  context: { consent?: Record<string, boolean>; library?: unknown; page?: { path?: string } };
}

interface Received {
  contentType: string | undefined;
  cookie: string | undefined;
  body: { batch: Item[]; writeKey: string; sentAt: string };
  status: number;
}

/** A recording stand-in for the collector's /v1/batch: sets an id cookie when analytics consent is not denied. */
async function recordingCollector() {
  const hub = new DebugHub();
  const received: Received[] = [];
  const state = { failNext: 0 };
  const app: FastifyInstance = Fastify();
  sdkRoutes(app, {});
  demoRoutes(app, { writeKey: 'browser-test' });
  debugRoutes(app, { hub, token: null, mode: 'local' });
  app.post('/v1/batch', async (req, reply) => {
    const body = JSON.parse(String(req.body)) as Received['body'];
    const status = state.failNext > 0 ? (state.failNext--, 503) : 200;
    received.push({ contentType: req.headers['content-type'], cookie: req.headers.cookie, body, status });
    hub.record({
      id: String(req.id),
      at: new Date().toISOString(),
      protocol: 'segment',
      raw: { method: 'POST', path: '/v1/batch', headers: req.headers, body: String(req.body) },
      events: body.batch.map((m) => ({
        event_id: m.messageId,
        canonical: { event_id: m.messageId, type: m.type, event: m.event ?? m.name ?? null, traits: m.traits },
        consent: { decision: m.context.consent ?? null, source: 'explicit', warnings: [] },
        enrichment: null,
        validation: { ok: true, errors: [] },
        publish: { topic: 'events', ok: status === 200 },
      })),
      response: { status },
    } as Journey);
    if (status !== 200) return reply.code(status).send({ error: 'unavailable' });
    const analyticsDenied = body.batch.some((m) => m.context.consent?.analytics === false);
    if (!analyticsDenied && !req.headers.cookie?.includes('tp_id=')) {
      void reply.header('Set-Cookie', 'tp_id=server-issued-id; Path=/; Max-Age=3600; SameSite=Lax');
    }
    return { success: true };
  });
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  const items = () => received.filter((r) => r.status === 200).flatMap((r) => r.body.batch);
  return { app, url, hub, received, items, state };
}

/** What page.evaluate callbacks see (they run in the browser; these tests typecheck without the DOM lib). */
interface PageGlobals {
  tagpipe: ((...args: unknown[]) => string) & { version?: string };
  localStorage: { getItem(key: string): string | null; clear(): void };
}

const README_SHOT = path.resolve(__dirname, '../../docs/img/demo.png');

const seq = (items: Item[]) => items.map((m) => `${m.type}:${m.event ?? m.name ?? ''}`);

let browser: Browser;
let collector: Awaited<ReturnType<typeof recordingCollector>>;

beforeAll(async () => {
  browser = await launchChromium();
});
beforeEach(async () => {
  collector = await recordingCollector();
});
afterEach(async () => {
  await collector.app.close();
});
afterAll(async () => {
  await browser?.close();
});

describe('tagpipe.js in Chromium', () => {
  it('demo accept and buy: Segment batches as text/plain, consent per event, the server cookie sent back', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const eventId = await shop(page, collector.url, 'accept', true, 'harness-accept');
    const items = collector.items();
    expect(seq(items)).toEqual(PURCHASE_SEQUENCE);
    expect(new Set(items.map((m) => m.messageId)).size).toBe(items.length);
    for (const r of collector.received) {
      expect(r.contentType).toBe('text/plain');
      expect(r.body.writeKey).toBe('browser-test');
    }
    // before the choice the demo defaults to denied; after it, everything is granted
    expect(items[0].context.consent).toEqual({
      analytics: false,
      ads: false,
      ad_user_data: false,
      ad_personalization: false,
    });
    for (const m of items.slice(1)) expect(m.context.consent).toMatchObject({ analytics: true, ads: true });
    // credentials: 'include' → the id cookie the server set comes back on later batches. The shop's events may all
    // leave in one batch after the consent choice, so send one more once that batch has been answered.
    expect(collector.received[0].cookie ?? '').not.toContain('tp_id=');
    const before = collector.received.length;
    await page.evaluate(() => {
      const g = globalThis as unknown as PageGlobals;
      g.tagpipe('track', 'Cookie Check');
      return (g.tagpipe as unknown as (cmd: string) => Promise<void>)('flush');
    });
    for (const until = Date.now() + 10_000; collector.received.length <= before && Date.now() < until;) {
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(collector.received.length).toBeGreaterThan(before);
    expect(collector.received.at(-1)!.cookie).toContain('tp_id=server-issued-id');
    const order = items.find((m) => m.event === 'Order Completed')!;
    expect(order.messageId).toBe(eventId);
    expect(order.properties).toMatchObject({ value: 24, currency: 'EUR', order_id: expect.stringMatching(/^ORD-/) });
    expect(items.find((m) => m.type === 'identify')!.traits).toEqual({ email: 'jane.doe@example.com' });
    await context.close();
  });

  it('renders the shop with its consent banner (the README picture, docs/img/demo.png)', async () => {
    const context = await browser.newContext({ viewport: { width: 1100, height: 640 } });
    const page = await context.newPage();
    await page.goto(`${collector.url}/demo`);
    await page.locator('#consent').waitFor({ state: 'visible' });
    await expect(page.locator('[data-product]').count()).resolves.toBe(4);
    const target =
      !fs.existsSync(README_SHOT) || process.env.TAGPIPE_UPDATE_SCREENSHOTS ? README_SHOT : `${ARTIFACTS}/demo.png`;
    fs.mkdirSync(path.dirname(target), { recursive: true });
    await page.screenshot({ path: target });
    await context.close();
  });

  it('demo deny: consent false on every event, no ids sent, no cookie in the browser', async () => {
    const context = await browser.newContext();
    await shop(await context.newPage(), collector.url, 'deny', false, 'harness-deny');
    const items = collector.items();
    expect(seq(items)).toEqual(BROWSE_SEQUENCE);
    for (const m of items) {
      expect(m.context.consent).toMatchObject({ analytics: false, ads: false });
      expect(m.userId).toBeUndefined();
      expect(m.anonymousId).toBeUndefined();
    }
    expect(await context.cookies(collector.url)).toEqual([]);
    await context.close();
  });

  it('queues calls made before the async script loads, and beacons the queue when the page is left', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    // a page of our own: the snippet runs first, the SDK arrives later; the flush interval is too long to fire
    await page.route(`${collector.url}/shop`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><title>Shop</title><script>
          window.tagpipe = window.tagpipe || function(){(tagpipe.q=tagpipe.q||[]).push(arguments)};
          tagpipe('init', { writeKey: 'wk', flushInterval: 600000 });
          tagpipe('track', 'Queued Before Load', { n: 1 });
        </script><script async src="/sdk.js"></script>`,
      }),
    );
    await page.goto(`${collector.url}/shop`);
    await page.waitForFunction(() => typeof (globalThis as unknown as PageGlobals).tagpipe.version === 'string');
    const id = await page.evaluate(() => (globalThis as unknown as PageGlobals).tagpipe('track', 'Before Leaving'));
    expect(collector.received).toHaveLength(0);
    await page.goto(`${collector.url}/demo`);
    for (let i = 0; i < 100 && !collector.items().some((m) => m.messageId === id); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(seq(collector.items()).slice(0, 2)).toEqual(['track:Queued Before Load', 'track:Before Leaving']);
    await context.close();
  });

  it('reads Google Consent Mode from a real gtag dataLayer, with later updates winning', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.route(`${collector.url}/gcm`, (route) =>
      route.fulfill({
        contentType: 'text/html',
        body: `<!doctype html><title>GCM</title><script>
          window.dataLayer = window.dataLayer || [];
          function gtag(){dataLayer.push(arguments);}
          gtag('consent', 'default', { ad_storage: 'denied', analytics_storage: 'denied',
            ad_user_data: 'denied', ad_personalization: 'denied' });
          gtag('js', new Date());
          window.tagpipe = window.tagpipe || function(){(tagpipe.q=tagpipe.q||[]).push(arguments)};
          tagpipe('init', { writeKey: 'wk', flushAt: 1 });
          tagpipe('page', 'Before Choice');
        </script><script async src="/sdk.js"></script>`,
      }),
    );
    const first = batchAnswered(page, 'Before Choice');
    await page.goto(`${collector.url}/gcm`);
    await first;
    const second = batchAnswered(page, 'After Choice');
    await page.evaluate(() => {
      const g = globalThis as unknown as { gtag: (...a: unknown[]) => void } & PageGlobals;
      g.gtag('consent', 'update', { analytics_storage: 'granted', ad_storage: 'granted' });
      g.tagpipe('track', 'After Choice');
    });
    await second;
    expect(collector.items().map((m) => [m.event ?? m.name, m.context.consent])).toEqual([
      ['Before Choice', { analytics: false, ads: false, ad_user_data: false, ad_personalization: false }],
      ['After Choice', { analytics: true, ads: true, ad_user_data: false, ad_personalization: false }],
    ]);
    await context.close();
  });

  it('keeps events in localStorage through an outage and delivers them once, with the same ids', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const first = batchAnswered(page, 'Product List');
    await page.goto(`${collector.url}/demo`);
    await page.click('#consent-accept');
    await first;
    collector.state.failNext = 2;
    const failed = batchAnswered(page, 'Outage Event');
    const id = await page.evaluate(() => {
      const tp = (globalThis as unknown as PageGlobals).tagpipe;
      const eventId = tp('track', 'Outage Event', { n: 1 });
      void tp('flush');
      return eventId;
    });
    expect((await failed).status()).toBe(503);
    const stored = await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.getItem('tp_q'));
    expect(JSON.parse(stored!).q.map((m: Item) => m.messageId)).toEqual([id]);
    // the SDK retries on its own (backoff 0.5-1 s, then 1-2 s)
    for (let i = 0; i < 200 && !collector.items().some((m) => m.messageId === id); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(collector.received.filter((r) => r.body.batch.some((m) => m.messageId === id)).map((r) => r.status)).toEqual(
      [503, 503, 200],
    );
    await page.waitForFunction(
      () =>
        JSON.parse((globalThis as unknown as PageGlobals).localStorage.getItem('tp_q') ?? '{"q":[1]}').q.length === 0,
    );
    expect(collector.items().filter((m) => m.messageId === id)).toHaveLength(1);
    await context.close();
  });

  it('the debug page renders journeys live', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const debug = await context.newPage();
    await debug.goto(`${collector.url}/debug`);
    await debug.locator('#status', { hasText: 'live' }).waitFor();
    await shop(await context.newPage(), collector.url, 'accept', true, 'harness-debug');
    const purchase = debug.locator('.journey', { hasText: 'track: Order Completed' }).first();
    await purchase.waitFor({ timeout: 20_000 });
    await purchase.locator('summary').click();
    // a streaming sync reports what it sent for the purchase: the open journey shows it live
    const order = collector.items().find((m) => m.event === 'Order Completed')!;
    const delivery = {
      destination: 'meta_capi',
      sync: 'purchases',
      status: 'ok',
      httpStatus: 200,
      response: 'events_received=1',
    };
    expect(collector.hub.recordDelivery(order.messageId, delivery)).toBe(true);
    await purchase.locator('.deliveries pre', { hasText: 'events_received=1' }).waitFor();
    await debug.screenshot({ path: `${ARTIFACTS}/harness-debug-view.png` });
    const html = await debug.content();
    expect(html).toContain('Product Viewed');
    // the raw body held the typed email; the hub redacted it
    expect(html).not.toContain('jane.doe@example.com');
    expect(html).toContain('[email]');
    await context.close();
  });
});
