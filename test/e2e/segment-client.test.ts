/**
 * End to end with a real Segment client: @segment/analytics-node sends thousands of events through a proxy that
 * forces retries (answers 5xx after the collector accepted, so the client resends the same batch) to a running
 * local stack. Exactly the distinct event ids sent must land in raw.events, with consent as sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Analytics } from '@segment/analytics-node';
import { readRaw, startTestStack } from '../helpers/stack';

const EVENTS = 3000;

/** Forwards to the collector; every 4th request is forwarded but answered 503 (duplicate on retry), every 7th dropped. */
function flakyProxy(target: string): Promise<{ url: string; forced: () => number; close: () => Promise<void> }> {
  let n = 0;
  let forced = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      n++;
      if (n % 7 === 0) {
        forced++;
        res.writeHead(500).end('{"error":"forced"}');
        return;
      }
      const up = http.request(target + req.url, { method: req.method, headers: req.headers }, (upRes) => {
        const body: Buffer[] = [];
        upRes.on('data', (c: Buffer) => body.push(c));
        upRes.on('end', () => {
          if (n % 4 === 0) {
            forced++;
            res.writeHead(503).end('{"error":"forced after accept"}');
          } else {
            res.writeHead(upRes.statusCode ?? 502, upRes.headers).end(Buffer.concat(body));
          }
        });
      });
      up.on('error', () => res.writeHead(502).end());
      up.end(Buffer.concat(chunks));
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        forced: () => forced,
        close: () => new Promise((r) => server.close(() => r())),
      }),
    ),
  );
}

describe('Segment client → local stack → raw.events', () => {
  it('lands exactly the distinct event ids sent, despite forced retries and duplicates', async () => {
    const stack = await startTestStack();
    const proxy = await flakyProxy(stack.url);
    try {
      const analytics = new Analytics({
        writeKey: 'dev',
        host: proxy.url,
        flushAt: 40,
        maxRetries: 10,
        httpRequestTimeout: 10_000,
      });
      const sent = new Map<string, { ads: boolean; analytics: boolean }>();
      for (let i = 0; i < EVENTS; i++) {
        const messageId = `e2e-${i}`;
        const consent = {
          analytics: i % 10 !== 0,
          ads: i % 3 === 0,
          ad_user_data: i % 3 === 0,
          ad_personalization: false,
        };
        sent.set(messageId, { ads: consent.ads, analytics: consent.analytics });
        analytics.track({
          messageId,
          anonymousId: `anon-${i % 97}`,
          userId: i % 5 === 0 ? `user-${i % 31}` : undefined,
          event: i % 50 === 0 ? 'Order Completed' : 'Product Viewed',
          properties: { product_id: `sku-${i % 13}`, price: 10 + (i % 7), currency: 'EUR' },
          context: { consent } as Record<string, unknown>,
        });
      }
      await analytics.closeAndFlush({ timeout: 240_000 });
      expect(proxy.forced()).toBeGreaterThan(0);
      await stack.drain();

      const rows = await readRaw(stack.dataDir, 'events');
      const ids = new Set(rows.map((r) => r.data.event_id as string));
      expect(ids.size).toBe(EVENTS);
      expect([...ids].sort()).toEqual([...sent.keys()].sort());
      // Forced 503-after-accept responses made the client resend batches: duplicates landed, dedup is downstream.
      expect(rows.length).toBeGreaterThan(EVENTS);
      for (const r of rows) {
        const want = sent.get(r.data.event_id as string)!;
        expect(r.data.consent.ads).toBe(want.ads);
        expect(r.data.consent.analytics).toBe(want.analytics);
        expect(r.attributes.consent_ads).toBe(String(want.ads));
        expect(r.attributes.event_id).toBe(r.data.event_id);
        expect(r.subscription_name).toBeTruthy();
        if (!want.analytics) {
          // Cookieless ping: still counted, but no identifiers and no IP.
          expect(r.data.anonymous_id ?? null).toBeNull();
          expect(r.data.user_id ?? null).toBeNull();
          expect(r.data.context.ip ?? null).toBeNull();
        } else {
          expect(r.data.anonymous_id).toMatch(/^anon-/);
        }
      }
      expect(await readRaw(stack.dataDir, 'events_invalid')).toHaveLength(0);
    } finally {
      await proxy.close();
      await stack.close();
    }
  }, 300_000);
});
