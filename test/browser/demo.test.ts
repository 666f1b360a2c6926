/**
 * End to end in real headless Chromium against the running local stack: browse the demo shop (tracked by
 * /sdk.js), accept or deny consent, buy, and check what landed in raw.events (Parquet, read with DuckDB), the
 * first-party cookie, and the live debug view. Screenshots go to .test-artifacts/.
 */
import crypto from 'node:crypto';
import path from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { readRaw, startTestStack } from '../helpers/stack';
import { ARTIFACTS, BROWSE_SEQUENCE, PURCHASE_SEQUENCE, launchChromium, shop } from './browser';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
type Row = Awaited<ReturnType<typeof readRaw>>[number];

let browser: Browser;

beforeAll(async () => {
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

/** A stack with plain-http cookies (Secure cookies need https outside localhost). */
function stackFor(env: Record<string, string> = {}): Promise<Stack> {
  return startTestStack({ TAGPIPE_COOKIE_SECURE: 'false', ...env });
}

/** Event names as a sorted multiset: batches land in any order and skew correction differs per batch. */
function names(rows: Row[]): string[] {
  return rows.map((r) => `${r.data.type}:${r.data.event ?? ''}`).sort();
}

describe('demo shop in Chromium → local stack', () => {
  it('accept and buy: the ecommerce events land with granted consent, one first-party id and the shared event_id', async () => {
    const stack = await stackFor();
    const context: BrowserContext = await browser.newContext({ viewport: { width: 1200, height: 800 } });
    try {
      const page = await context.newPage();
      const eventId = await shop(page, stack.url, 'accept', true, 'stack-accept');
      await stack.drain();

      const cookies = await context.cookies(stack.url);
      const id = cookies.find((c) => c.name === stack.config.cookie.name);
      expect(id).toBeDefined();
      // the SDK itself writes no cookie: the only cookie is the collector's
      expect(cookies.map((c) => c.name)).toEqual([stack.config.cookie.name]);

      const rows = await readRaw(stack.dataDir, 'events');
      expect(names(rows)).toEqual([...PURCHASE_SEQUENCE].sort());
      const events = rows.map((r) => r.data);
      for (const e of events) {
        expect(e.context.library).toEqual({ name: 'tagpipe.js', version: '0.1.0' });
        expect(e.context.page.path).toBe('/demo');
      }

      // before the banner choice the demo defaults to denied: a cookieless ping
      const first = events.find((e) => e.event === 'Product List')!;
      expect(first.consent).toMatchObject({ analytics: false, ads: false, source: 'explicit' });
      expect(first.anonymous_id ?? null).toBeNull();

      const granted = events.filter((e) => e !== first);
      const anonIds = new Set(granted.map((e) => e.anonymous_id));
      expect(anonIds.size).toBe(1);
      // the server's first-party cookie is the anonymous id: the SDK keeps none
      expect([...anonIds][0]).toBe(id!.value);
      for (const e of granted) {
        expect(e.consent).toMatchObject({
          analytics: true,
          ads: true,
          ad_user_data: true,
          ad_personalization: true,
          source: 'explicit',
        });
      }

      const order = events.find((e) => e.event === 'Order Completed')!;
      expect(order.event_id).toBe(eventId);
      expect(order.properties).toMatchObject({ value: 24, revenue: 24, currency: 'EUR' });
      expect(order.properties.order_id).toMatch(/^ORD-/);
      expect(order.properties.products).toEqual([
        { product_id: 'mug-classic', sku: 'MUG-001', name: 'Classic Mug', category: 'Mugs', price: 12, quantity: 2 },
      ]);
      const added = events.find((e) => e.event === 'Product Added')!;
      expect(added.properties).toMatchObject({ product_id: 'mug-classic', quantity: 2, price: 12, currency: 'EUR' });

      // the email typed at checkout is hashed into identifiers
      const identify = events.find((e) => e.type === 'identify')!;
      expect(identify.identifiers.email_sha256).toBe(
        crypto.createHash('sha256').update('jane.doe@example.com').digest('hex'),
      );
      // plaintext stays only in identify traits (CRM upserts match on it; see src/core/pii.ts), nowhere else
      const withoutTraits = rows.map((r) => ({ ...r, data: { ...r.data, traits: null } }));
      expect(JSON.stringify(withoutTraits)).not.toContain('jane.doe@example.com');
      expect(order.source).toEqual({ id: 'dev', protocol: 'sdk' });
    } finally {
      await context.close();
      await stack.close();
    }
  });

  it('deny: events still land, without a first-party cookie or any identifier', async () => {
    const stack = await stackFor();
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await shop(page, stack.url, 'deny', false, 'stack-deny');
      await stack.drain();

      expect(await context.cookies(stack.url)).toEqual([]);
      const rows = await readRaw(stack.dataDir, 'events');
      expect(names(rows)).toEqual([...BROWSE_SEQUENCE].sort());
      for (const { data: e } of rows) {
        expect(e.consent).toMatchObject({
          analytics: false,
          ads: false,
          ad_user_data: false,
          ad_personalization: false,
        });
        expect(e.anonymous_id ?? null).toBeNull();
        expect(e.user_id ?? null).toBeNull();
        expect(e.context.ip ?? null).toBeNull();
        expect(e.identifiers.email_sha256 ?? null).toBeNull();
      }
      for (const { attributes } of rows) expect(attributes.consent_analytics).toBe('false');
    } finally {
      await context.close();
      await stack.close();
    }
  });

  it('the live debug view shows the journeys as they happen, PII-redacted', async () => {
    const stack = await stackFor();
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const debug = await context.newPage();
      await debug.goto(`${stack.url}/debug`);
      await debug.locator('#status', { hasText: 'live' }).waitFor();

      const shopPage = await context.newPage();
      await shop(shopPage, stack.url, 'accept', true, 'stack-debug');

      const purchase = debug.locator('.journey', { hasText: 'track: Order Completed' });
      await purchase.first().waitFor({ timeout: 20_000 });
      await purchase.first().locator('summary').click();
      await expect(purchase.first().locator('pre').first().textContent()).resolves.toContain('/v1/batch');
      await debug.screenshot({ path: path.join(ARTIFACTS, 'stack-debug-view.png'), fullPage: false });

      const html = await debug.content();
      expect(html).toContain('Product Viewed');
      expect(html).toContain('Checkout Started');
      expect(html).not.toContain('jane.doe@example.com');
      expect(html).toContain('[email]');
    } finally {
      await context.close();
      await stack.close();
    }
  });

  it('with a debug token, a browser sees only its own traffic after enabling preview', async () => {
    const stack = await stackFor({ TAGPIPE_DEBUG_TOKEN: 'e2e-debug-token' });
    const mine = await browser.newContext();
    const other = await browser.newContext();
    try {
      const debug = await mine.newPage();
      await debug.goto(`${stack.url}/debug`);
      await debug.locator('#locked').waitFor({ state: 'visible' });
      await debug.fill('#token', 'wrong-token-here');
      await debug.click('#enable button');
      await debug.locator('#enable-error', { hasText: 'wrong token' }).waitFor();
      await debug.fill('#token', 'e2e-debug-token');
      await Promise.all([debug.waitForEvent('load'), debug.click('#enable button')]);
      await debug.locator('#status', { hasText: 'live' }).waitFor();
      const preview = (await mine.cookies(stack.url)).find((c) => c.name === 'tp_debug');
      expect(preview?.httpOnly).toBe(true);

      // someone else's purchase first, then ours
      await shop(await other.newPage(), stack.url, 'accept', true, 'stack-other');
      await shop(await mine.newPage(), stack.url, 'accept', false, 'stack-mine');
      await debug.locator('.journey', { hasText: 'track: Checkout Started' }).first().waitFor({ timeout: 20_000 });
      await new Promise((r) => setTimeout(r, 500));
      const text = await debug.locator('#journeys').textContent();
      expect(text).toContain('Product Added');
      expect(text).not.toContain('Order Completed');
    } finally {
      await mine.close();
      await other.close();
      await stack.close();
    }
  });
});
