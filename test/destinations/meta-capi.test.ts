/** Meta Conversions API against the local Graph API fake: batching, whole-batch refusals, throttling, auth. */
import metaCapi, { configSchema } from '../../destinations/meta-capi';
import { postEvents } from '../../destinations/meta-capi/client';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeMeta, type FakeMeta } from '../fakes';
import { DEAD_ENDPOINT, FIXED_NOW, testContext } from './context';

function conversion(i: number, extra: Record<string, unknown> = {}): SyncRecord {
  return {
    key: `evt-${i}`,
    action: 'send',
    row: {
      event_id: `evt-${i}`,
      event_name: 'purchase',
      conversion_type: 'purchase',
      occurred_at: new Date(FIXED_NOW.getTime() - 3600_000).toISOString(),
      transaction_id: `T-${i}`,
      value: 10 + i,
      currency: 'USD',
      person_id: `p-${i}`,
      user_agent: 'Mozilla/5.0',
      ip: '198.51.100.1',
      page_url: 'https://shop.example.com/thanks',
      ...extra,
    },
  };
}

describe('meta-capi against the Graph API fake', () => {
  let fake: FakeMeta;
  beforeEach(async () => {
    fake = await startFakeMeta({ now: () => FIXED_NOW });
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({ pixelId: '555', accessToken: 'test-token', endpoint: fake.url, ...extra });

  it('sends valid rows in one request, keeps locally refused rows out of it, one outcome per row in order', async () => {
    const batch = [conversion(1), conversion(2), conversion(3, { occurred_at: '2026-11-01T00:00:00Z' }), conversion(4)];
    const outcomes = await metaCapi.send(batch, testContext(config()));
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'rejected', 'ok']);
    expect(fake.requests).toHaveLength(1);
    expect(fake.requests[0].path).toBe('/v25.0/555/events');
    const sent = (fake.requests[0].json as { data: { event_id: string; custom_data: { order_id: string } }[] }).data;
    expect(sent.map((e) => e.event_id)).toEqual(['evt-1', 'evt-2', 'evt-4']);
    expect(sent.map((e) => e.custom_data.order_id)).toEqual(['T-1', 'T-2', 'T-4']);
    expect([...fake.events.keys()]).toEqual(['Purchase:evt-1', 'Purchase:evt-2', 'Purchase:evt-4']);
  });

  it('splits 2,500 rows into requests of at most 1,000 events', async () => {
    const batch = Array.from({ length: 2500 }, (_, i) => conversion(i));
    const outcomes = await metaCapi.send(batch, testContext(config()));
    expect(outcomes.filter((o) => o.status === 'ok')).toHaveLength(2500);
    expect(fake.requests.map((r) => (r.json as { data: unknown[] }).data.length)).toEqual([1000, 1000, 500]);
    expect(fake.events.size).toBe(2500);
  });

  it('marks every row of a request Meta refuses for one bad event as a whole-batch rejection', async () => {
    // The fake's clock runs 8 days ahead: the events pass the local age check but Meta refuses them all.
    await fake.close();
    fake = await startFakeMeta({ now: () => new Date(FIXED_NOW.getTime() + 8 * 86400_000) });
    const outcomes = await metaCapi.send([conversion(1), conversion(2)], testContext(config()));
    expect(outcomes).toEqual([
      expect.objectContaining({ status: 'rejected', wholeBatch: true, vendorCode: '100/2804003', httpStatus: 400 }),
      expect.objectContaining({ status: 'rejected', wholeBatch: true, vendorCode: '100/2804003', httpStatus: 400 }),
    ]);
    expect(fake.events.size).toBe(0);
  });

  it('is refused by the fake above 1,000 events per request', async () => {
    const events = Array.from({ length: 1001 }, (_, i) => ({
      event_name: 'Purchase',
      event_time: Math.floor(FIXED_NOW.getTime() / 1000),
      event_id: `e${i}`,
      action_source: 'website',
      event_source_url: 'https://x.example/',
      user_data: { client_user_agent: 'ua' },
    }));
    const outcomes = await postEvents({ data: events }, testContext(config()));
    expect(outcomes[0]).toMatchObject({ status: 'rejected', wholeBatch: true, vendorCode: '100/2804019' });
    expect(fake.events.size).toBe(0);
  });

  it('rejects without bisection when the token is wrong', async () => {
    const outcomes = await metaCapi.send(
      [conversion(1), conversion(2)],
      testContext(config({ accessToken: 'expired' })),
    );
    for (const o of outcomes) {
      expect(o).toMatchObject({ status: 'rejected', vendorCode: '190' });
      expect(o).not.toHaveProperty('wholeBatch');
    }
  });

  it('retries 429 with Retry-After, 5xx, throttle codes and network failures', async () => {
    fake.respondNext(
      { status: 429, headers: { 'retry-after': '3' }, body: { error: { message: 'slow', code: 613 } } },
      { status: 500, body: { error: { message: 'oops', code: 1, is_transient: true } } },
      { status: 400, body: { error: { message: 'User request limit reached', code: 17 } } },
    );
    const ctx = testContext(config());
    expect((await metaCapi.send([conversion(1)], ctx))[0]).toMatchObject({
      status: 'retry',
      retryAfterMs: 3000,
      httpStatus: 429,
    });
    expect((await metaCapi.send([conversion(1)], ctx))[0]).toMatchObject({
      status: 'retry',
      vendorCode: '1',
      httpStatus: 500,
    });
    expect((await metaCapi.send([conversion(1)], ctx))[0]).toMatchObject({
      status: 'retry',
      vendorCode: '17',
      retryAfterMs: 60000,
    });
    const dead = await metaCapi.send([conversion(1), conversion(2)], testContext(config({ endpoint: DEAD_ENDPOINT })));
    expect(dead.map((o) => o.status)).toEqual(['retry', 'retry']);
    expect(fake.events.size).toBe(0);
  });

  it('in validate mode sends test_event_code, and refuses to run without one', async () => {
    const without = await metaCapi.send([conversion(1)], testContext(config(), { validate: true }));
    expect(without[0]).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/testEventCode/) as unknown });
    expect(fake.requests).toHaveLength(0);
    const withCode = await metaCapi.send(
      [conversion(1)],
      testContext(config({ testEventCode: 'TEST42' }), { validate: true }),
    );
    expect(withCode[0].status).toBe('ok');
    expect(fake.requests[0].json).toMatchObject({ test_event_code: 'TEST42' });
  });
});

describe('meta fake for long runs', () => {
  it('keeps neither requests nor events with record: false, but still counts and validates', async () => {
    const fake = await startFakeMeta({ now: () => FIXED_NOW, record: false });
    try {
      const cfg = configSchema.parse({ pixelId: '1', accessToken: 'test-token', endpoint: fake.url });
      const outcomes = await metaCapi.send([conversion(1), conversion(2)], testContext(cfg));
      expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok']);
      expect(fake.requestCount).toBe(1);
      expect(fake.requests).toHaveLength(0);
      expect(fake.events.size).toBe(0);
    } finally {
      await fake.close();
    }
  });
});
