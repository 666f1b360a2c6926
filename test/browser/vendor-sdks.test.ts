/**
 * Vendors' own browser SDKs in real headless Chromium, pointed at the local stack from a page of another origin
 * and configured only with the collector's URL, with no vendor control plane or CDN:
 *
 * - RudderStack's JavaScript SDK (v3, the npm package's bundled build), with `configUrl` and its data plane on the
 *   collector: it loads its source configuration, then sends each call over XHR (Basic auth and an `AnonymousId`
 *   header, so a CORS preflight) or, with `useBeacon`, as sendBeacon batches to /beacon/v1/batch.
 * - Segment's analytics.js (analytics-next, from npm) with `cdnURL` on the collector: it loads its settings,
 *   which point its Segment.io integration back at the collector, then posts each call as text/plain.
 *
 * Every message an SDK sent lands in raw.events under its own messageId.
 */
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import * as esbuild from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { readRaw, startTestStack } from '../helpers/stack';
import { launchChromium } from './browser';

type Stack = Awaited<ReturnType<typeof startTestStack>>;

interface SentMessage {
  messageId: string;
  type: string;
  event?: string;
  userId?: string;
  properties?: Record<string, unknown>;
}

interface Sent {
  url: string;
  messages: SentMessage[];
}

/** What each test page puts on window: the SDK behind one shape (these tests typecheck without the DOM lib). */
interface PageGlobals {
  sdk: {
    page(): void;
    track(event: string, properties: Record<string, unknown>): void;
    identify(userId: string, traits: Record<string, unknown>): void;
  };
  sdkReady?: boolean;
}

const ROOT = path.resolve(__dirname, '../..');
let browser: Browser;
let pages: http.Server;
let pageOrigin: string;
let stack: Stack;
/** Each SDK as one script that puts its entry point on window, as its CDN build would. */
const scripts: Record<string, string> = {};

async function bundle(contents: string): Promise<string> {
  const built = await esbuild.build({
    stdin: { contents, resolveDir: ROOT, loader: 'js' },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    logLevel: 'silent',
  });
  return built.outputFiles[0].text;
}

/**
 * The test pages: `/rudderstack.html` (`?beacon=1` for sendBeacon), `/analytics.html` (analytics.js bundled into
 * the site) and `/snippet.html` (analytics.js loaded from the collector, as a snippet would).
 */
function pageHtml(url: URL): string {
  const collector = JSON.stringify(stack.url);
  if (url.pathname === '/rudderstack.html') {
    return `<!doctype html><meta charset="utf-8"><title>RudderStack SDK</title>
<script src="/rudderstack.js"></script>
<script>
  window.sdk = new RudderAnalytics();
  window.sdk.load('dev', ${collector}, {
    configUrl: ${collector},
    useBeacon: ${url.searchParams.get('beacon') === '1'},
    beaconQueueOptions: { flushQueueInterval: 300 },
    polyfillIfRequired: false,
    logLevel: 'ERROR',
  });
  window.sdk.ready(() => { window.sdkReady = true; });
</script>`;
  }
  if (url.pathname === '/snippet.html') {
    // A snippet-style page: calls queue on a stub until the collector's analytics.js replaces it. `_cdn` is
    // Segment's own knob for a proxy (on https the script finds its host from its own URL instead).
    return `<!doctype html><meta charset="utf-8"><title>analytics.js snippet</title>
<script>
  var analytics = (window.analytics = []);
  ['page', 'track', 'identify', 'ready'].forEach(function (m) {
    analytics[m] = function () { analytics.push([m].concat([].slice.call(arguments))); return analytics; };
  });
  analytics._writeKey = 'dev';
  analytics._cdn = ${collector};
  window.sdk = {
    page: function () { window.analytics.page(); },
    track: function (e, p) { window.analytics.track(e, p); },
    identify: function (u, t) { window.analytics.identify(u, t); },
  };
  analytics.ready(function () { window.sdkReady = true; });
</script>
<script async src=${JSON.stringify(`${stack.url}/analytics.js/v1/dev/analytics.min.js`)}></script>`;
  }
  return `<!doctype html><meta charset="utf-8"><title>analytics.js</title>
<script src="/analytics.js"></script>
<script>
  window.sdk = AnalyticsBrowser.load({ writeKey: 'dev', cdnURL: ${collector} });
  window.sdk.ready(() => { window.sdkReady = true; });
</script>`;
}

beforeAll(async () => {
  browser = await launchChromium();
  scripts['/rudderstack.js'] = await bundle(
    "import { RudderAnalytics } from '@rudderstack/analytics-js/bundled'; window.RudderAnalytics = RudderAnalytics;",
  );
  scripts['/analytics.js'] = await bundle(
    "import { AnalyticsBrowser } from '@segment/analytics-next'; window.AnalyticsBrowser = AnalyticsBrowser;",
  );
  // The site: another origin than the collector (another port), allowed by the collector's CORS list.
  pages = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://page');
    const script = scripts[url.pathname];
    res.writeHead(200, { 'Content-Type': script ? 'application/javascript' : 'text/html; charset=utf-8' });
    res.end(script ?? pageHtml(url));
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pageOrigin = `http://127.0.0.1:${(pages.address() as AddressInfo).port}`;
  stack = await startTestStack({ TAGPIPE_COOKIE_SECURE: 'false', TAGPIPE_CORS_ORIGINS: pageOrigin });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.close();
  await new Promise<void>((resolve) => (pages ? pages.close(() => resolve()) : resolve()));
});

/**
 * Records every event request the page sends to the collector, with the messages it carried (as sent: Chromium
 * reports neither a beacon's body nor its answer), the answers to the configuration the SDK loads, and any request
 * that failed
 * (a CORS refusal shows there).
 */
async function recordSends(page: Page): Promise<{ sent: Sent[]; failed: string[]; config: number[] }> {
  const sent: Sent[] = [];
  const failed: string[] = [];
  const config: number[] = [];
  page.on('request', (request) => {
    const url = request.url();
    if (!url.startsWith(stack.url) || request.method() !== 'POST') return;
    // Chromium does not report a beacon's body: those are read by the spy on navigator.sendBeacon below.
    const text = request.postData();
    if (text === null) return;
    const body = JSON.parse(text) as { batch?: SentMessage[] } & SentMessage;
    sent.push({ url, messages: body.batch ?? [body] });
  });
  await page.exposeFunction('recordBeacon', (url: string, text: string) => {
    const body = JSON.parse(text) as { batch: SentMessage[] };
    sent.push({ url, messages: body.batch });
  });
  await page.addInitScript(() => {
    const nav = (globalThis as unknown as { navigator: { sendBeacon(url: string, data: unknown): boolean } }).navigator;
    const send = nav.sendBeacon.bind(nav);
    const page = globalThis as unknown as { recordBeacon(url: string, text: string): void };
    nav.sendBeacon = (url, data) => {
      void (data as { text(): Promise<string> }).text().then((text) => page.recordBeacon(url, text));
      return send(url, data);
    };
  });
  page.on('requestfinished', (request) => {
    const url = request.url();
    if (url.startsWith(`${stack.url}/sourceConfig`) || url.startsWith(`${stack.url}/v1/projects/`)) {
      void request.response().then((r) => config.push(r?.status() ?? 0));
    }
  });
  page.on('requestfailed', (request) => failed.push(`${request.url()}: ${request.failure()?.errorText}`));
  return { sent, failed, config };
}

/** Opens a test page and makes three calls once the SDK is ready. */
async function sendCalls(page: Page, pagePath: string, label: string): Promise<void> {
  await page.goto(`${pageOrigin}${pagePath}`);
  await page.waitForFunction(() => (globalThis as unknown as PageGlobals).sdkReady === true, null, {
    timeout: 20_000,
  });
  await page.evaluate((l) => {
    const sdk = (globalThis as unknown as PageGlobals).sdk;
    sdk.page();
    sdk.track('Order Completed', { order_id: `${l}-o-1`, revenue: 42.5, currency: 'EUR' });
    sdk.identify(`${l}-user`, { plan: 'pro' });
  }, label);
}

async function waitFor(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The raw.events rows of these event ids, once all of them landed (or what landed by the deadline). */
async function landed(ids: string[], timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await stack.drain();
    const rows = (await readRaw(stack.dataDir, 'events')).filter((r) => ids.includes(r.data.event_id as string));
    if (rows.length >= ids.length || Date.now() > deadline) return rows;
    await new Promise((r) => setTimeout(r, 200));
  }
}

/**
 * Opens `pagePath` in a fresh context, makes the three calls, and waits until the SDK sent them: no request failed,
 * and every message sent landed in raw.events under its messageId. Returns what was sent, requested and landed.
 */
async function sendAndLand(pagePath: string, label: string) {
  const context = await browser.newContext();
  try {
    const page = await context.newPage();
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    const { sent, failed, config } = await recordSends(page);
    await sendCalls(page, pagePath, label);
    const messages = () => sent.flatMap((s) => s.messages);
    await waitFor(() => messages().length >= 3, `three calls sent from ${pagePath}`);
    expect(failed).toEqual([]);
    const ids = messages().map((m) => m.messageId);
    const rows = await landed(ids);
    expect(rows.map((r) => r.data.event_id).sort()).toEqual([...ids].sort());
    return { sent, config, requested, rows };
  } finally {
    await context.close();
  }
}

/** The landed calls carry what sendCalls sent: the track's name and properties, the identify's user id. */
function expectCallsAsSent(rows: Awaited<ReturnType<typeof landed>>, label: string): void {
  const track = rows.find((r) => r.data.type === 'track');
  expect(track?.data.event).toBe('Order Completed');
  expect(track?.data.properties).toMatchObject({ order_id: `${label}-o-1`, revenue: 42.5, currency: 'EUR' });
  expect(rows.find((r) => r.data.type === 'identify')?.data.user_id).toBe(`${label}-user`);
  expect(rows.every((r) => r.data.source.protocol === 'segment' && r.data.source.id === 'dev')).toBe(true);
}

describe('RudderStack JavaScript SDK in Chromium → local stack', () => {
  it('loads its source configuration from the collector and lands every XHR call under its messageId', async () => {
    const { sent, config, rows } = await sendAndLand('/rudderstack.html', 'xhr');
    expect(config).toEqual([200]);
    expect(sent.map((s) => new URL(s.url).pathname).sort()).toEqual(['/v1/identify', '/v1/page', '/v1/track']);
    expectCallsAsSent(rows, 'xhr');
  });

  it('with useBeacon, sends batches to /beacon/v1/batch with the write key in the query, and they land', async () => {
    const { sent, rows } = await sendAndLand('/rudderstack.html?beacon=1', 'beacon');
    for (const s of sent) {
      const url = new URL(s.url);
      expect(url.pathname).toBe('/beacon/v1/batch');
      expect(url.searchParams.get('writeKey')).toBe('dev');
    }
    expect(rows.map((r) => `${r.data.type}:${r.data.event ?? ''}`).sort()).toEqual([
      'identify:',
      'page:',
      'track:Order Completed',
    ]);
  });
});

describe("Segment's analytics.js in Chromium → local stack", () => {
  /** Three calls from `pagePath` land as sent, and nothing went to Segment's CDN or API. */
  async function callsLand(pagePath: string, label: string): Promise<string[]> {
    const { sent, config, requested, rows } = await sendAndLand(pagePath, label);
    expect(config).toEqual([200]);
    expect(requested.filter((u) => !u.startsWith(pageOrigin) && !u.startsWith(stack.url))).toEqual([]);
    expect(sent.map((s) => new URL(s.url).pathname).sort()).toEqual(['/v1/i', '/v1/p', '/v1/t']);
    expectCallsAsSent(rows, label);
    return requested;
  }

  it('bundled into the site, with cdnURL on the collector: loads its settings there, and its calls land', async () => {
    await callsLand('/analytics.html', 'ajs');
  });

  it('loaded from the collector by a snippet: the script, its settings and its calls all go to the collector', async () => {
    const requested = await callsLand('/snippet.html', 'snippet');
    expect(requested).toContain(`${stack.url}/analytics.js/v1/dev/analytics.min.js`);
  });
});
