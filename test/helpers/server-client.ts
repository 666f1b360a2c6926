/**
 * End to end with a vendor's server-side client: what the Segment and RudderStack Node libraries send, through a
 * proxy that forces retries, must land in raw.events exactly once per distinct message id, with consent as sent.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readRaw, startTestStack } from './stack';

/** One track call as the test makes it; each client library takes it in its own shape. */
export interface TrackCall {
  messageId: string;
  anonymousId: string;
  userId?: string;
  event: string;
  properties: Record<string, unknown>;
  consent: { analytics: boolean; ads: boolean; ad_user_data: boolean; ad_personalization: boolean };
}

/** A client library pointed at `host`: takes calls, and resolves once every call was sent (or throws). */
export interface ServerClient {
  track(call: TrackCall): void;
  flush(): Promise<void>;
}

/**
 * Forwards to the collector; every 4th request is forwarded but answered 503 (so the client resends a batch the
 * collector accepted: duplicates), every 7th is answered 500 without forwarding.
 */
export function flakyProxy(target: string): Promise<{ url: string; forced: () => number; close: () => Promise<void> }> {
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

/**
 * Starts a local stack, sends `count` track calls through `client` (made for the proxy's URL) and checks the
 * landing: exactly the distinct message ids sent, duplicates from the forced retries, consent and identity as
 * sent, nothing quarantined.
 */
export async function expectEveryCallLands(makeClient: (host: string) => ServerClient, count: number): Promise<void> {
  const stack = await startTestStack();
  const proxy = await flakyProxy(stack.url);
  try {
    const client = makeClient(proxy.url);
    const sent = new Map<string, { ads: boolean; analytics: boolean }>();
    for (let i = 0; i < count; i++) {
      const messageId = `e2e-${i}`;
      const consent = {
        analytics: i % 10 !== 0,
        ads: i % 3 === 0,
        ad_user_data: i % 3 === 0,
        ad_personalization: false,
      };
      sent.set(messageId, { ads: consent.ads, analytics: consent.analytics });
      client.track({
        messageId,
        anonymousId: `anon-${i % 97}`,
        userId: i % 5 === 0 ? `user-${i % 31}` : undefined,
        event: i % 50 === 0 ? 'Order Completed' : 'Product Viewed',
        properties: { product_id: `sku-${i % 13}`, price: 10 + (i % 7), currency: 'EUR' },
        consent,
      });
    }
    await client.flush();
    expect(proxy.forced()).toBeGreaterThan(0);
    await stack.drain();

    const rows = await readRaw(stack.dataDir, 'events');
    const ids = new Set(rows.map((r) => r.data.event_id as string));
    expect(ids.size).toBe(count);
    expect([...ids].sort()).toEqual([...sent.keys()].sort());
    // Forced 503-after-accept responses made the client resend batches: duplicates landed, dedup is downstream.
    expect(rows.length).toBeGreaterThan(count);
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
}
