/**
 * Streaming sync in the local stack: an event posted to the collector reaches a webhook receiver within seconds
 * (signed, with the same event_id), only with the consent the sync requires, and the debug view records what the
 * destination was sent and answered.
 */
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { startTestStack } from '../helpers/stack';

test('a purchase reaches a stream webhook within seconds, with consent honoured and the delivery in the debug view', async () => {
  const received: Array<{ headers: http.IncomingHttpHeaders; body: any; text: string }> = [];
  const receiver = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      received.push({ headers: req.headers, body: JSON.parse(text), text });
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  const secret = 'a-very-long-signing-secret';
  const stack = await startTestStack(
    {},
    {
      syncs: [
        {
          name: 'purchases_live',
          source: 'conversions',
          destination: 'webhook',
          mode: 'append',
          cadence: 'stream',
          events: ['Order Completed'],
          consent: ['ads'],
          config: { endpoint, secret, allowPrivateNetworks: true, batchSize: 1 },
        },
      ],
    },
  );
  try {
    const send = (messageId: string, event: string, ads: boolean) =>
      fetch(`${stack.url}/v1/track`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: 'Basic ' + Buffer.from('dev:').toString('base64'),
        },
        body: JSON.stringify({
          messageId,
          anonymousId: 'buyer-1',
          event,
          properties: { order_id: `o-${messageId}`, revenue: 99.5, currency: 'EUR' },
          context: { consent: { analytics: true, ads, ad_user_data: ads, ad_personalization: ads } },
        }),
      }).then((r) => r.status);
    expect(await send('buy-1', 'Order Completed', true)).toBe(200);
    expect(await send('buy-2', 'Order Completed', false)).toBe(200);
    expect(await send('view-1', 'Product Viewed', true)).toBe(200);

    const deadline = Date.now() + 15_000;
    while (received.length < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 1500)); // anything wrongly sent would arrive by now
    expect(received).toHaveLength(1);
    const { headers, body, text: raw } = received[0];
    const text = JSON.stringify(body);
    expect(text).toContain('buy-1');
    expect(text).not.toContain('buy-2');
    expect(text).not.toContain('view-1');
    // The signature covers the timestamp and the exact body.
    expect(headers['x-tagpipe-signature']).toMatch(/^sha256=[0-9a-f]{64}$/);
    const expected = crypto
      .createHmac('sha256', secret)
      .update(`${String(headers['x-tagpipe-timestamp'])}.${raw}`)
      .digest('hex');
    expect(headers['x-tagpipe-signature']).toBe(`sha256=${expected}`);

    const journeys = stack.hub.recent({});
    const journey = journeys.find((j) => j.events.some((e) => e.event_id === 'buy-1'))!;
    expect(journey.deliveries?.[0]).toMatchObject({
      destination: 'webhook',
      sync: 'purchases_live',
      status: 'sent',
      httpStatus: 200,
    });
    // The debug view shows what was sent (the webhook body with the event id) and what the receiver answered.
    expect(journey.deliveries?.[0].response).toContain(`sent POST ${endpoint}`);
    expect(journey.deliveries?.[0].response).toContain('buy-1');
    expect(journey.deliveries?.[0].response).toContain('answered 200 {"ok":true}');
  } finally {
    await stack.close();
    await new Promise<void>((r) => receiver.close(() => r()));
  }
}, 60_000);
