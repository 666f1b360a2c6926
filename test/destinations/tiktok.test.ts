/** TikTok Events API against the fake: 200-with-code answers, whole-batch failures, partial success, batching. */
import tiktok, { configSchema } from '../../destinations/tiktok';
import { track } from '../../destinations/tiktok/client';
import { requestBody, toTiktokEvent } from '../../destinations/tiktok/transform';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeTiktok, type FakeTiktok } from '../fakes';
import { DEAD_ENDPOINT, FIXED_NOW, testContext } from './context';

const conversion = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `e-${i}`,
  action: 'send',
  row: {
    event_id: `e-${i}`,
    event_name: 'purchase',
    conversion_type: 'purchase',
    occurred_at: FIXED_NOW.toISOString(),
    transaction_id: `T-${i}`,
    value: i,
    currency: 'USD',
    person_id: `p-${i}`,
    ttclid: `ttc-${i}`,
    ...extra,
  },
});

describe('tiktok against the Events API fake', () => {
  let fake: FakeTiktok;
  beforeEach(async () => {
    fake = await startFakeTiktok();
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({ pixelCode: 'PIX1', accessToken: 'test-token', endpoint: fake.url, ...extra });

  it('sends 1,500 rows in requests of at most 1,000 and stores them deduplicated on event_id', async () => {
    const batch = Array.from({ length: 1500 }, (_, i) => conversion(i));
    const outcomes = await tiktok.send(batch, testContext(config()));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(fake.requests.map((r) => (r.json as { data: unknown[] }).data.length)).toEqual([1000, 500]);
    expect(fake.requests[0].headers['access-token']).toBe('test-token');
    await tiktok.send(batch.slice(0, 10), testContext(config()));
    expect(fake.events.size).toBe(1500);
    expect(fake.events.get('PIX1:CompletePayment:e-7')).toMatchObject({ properties: { order_id: 'T-7', value: 7 } });
  });

  it('marks every row of a batch TikTok fails for one invalid event as whole-batch rejected, storing nothing', async () => {
    const ctx = testContext(config());
    const events = [conversion(1), conversion(2)].map((r) => {
      const p = toTiktokEvent(r.row, ctx.config);
      if (!p.ok) throw new Error(p.reason);
      return p.value;
    });
    events[1].user.email = 'jane@example.com'; // plaintext where TikTok wants SHA-256
    const outcomes = await track(requestBody(events, ctx.config), ctx);
    expect(outcomes).toEqual([
      expect.objectContaining({ status: 'rejected', wholeBatch: true, vendorCode: '40002', httpStatus: 200 }),
      expect.objectContaining({ status: 'rejected', wholeBatch: true, vendorCode: '40002', httpStatus: 200 }),
    ]);
    expect(fake.events.size).toBe(0);
    // The half without the bad event goes through on its own, as bisection would find.
    expect(await track(requestBody(events.slice(0, 1), ctx.config), ctx)).toEqual([
      expect.objectContaining({ status: 'ok' }),
    ]);
    expect([...fake.events.keys()]).toEqual(['PIX1:CompletePayment:e-1']);
  });

  it('treats partial success (20001) as a whole-batch rejection; resending is safe thanks to event_id', async () => {
    const ctx = testContext(config());
    const events = [conversion(1), conversion(2), conversion(3)].map((r) => {
      const p = toTiktokEvent(r.row, ctx.config);
      if (!p.ok) throw new Error(p.reason);
      return p.value;
    });
    events[1].properties = { ...events[1].properties, fail_me: true };
    const partial = await track(requestBody(events, ctx.config), ctx);
    expect(partial.every((o) => o.status === 'rejected' && o.wholeBatch === true && o.vendorCode === '20001')).toBe(
      true,
    );
    expect(fake.events.size).toBe(2);
    // The executor's bisection resends the accepted events: TikTok keeps one of each.
    await track(requestBody([events[0], events[2]], ctx.config), ctx);
    expect([...fake.events.keys()]).toEqual(['PIX1:CompletePayment:e-1', 'PIX1:CompletePayment:e-3']);
  });

  it('rejects every row without bisection on a wrong token, throttles on 40100, retries network failures', async () => {
    const auth = await tiktok.send([conversion(1)], testContext(config({ accessToken: 'nope' })));
    expect(auth[0]).toMatchObject({ status: 'rejected', vendorCode: '40001' });
    expect(auth[0]).not.toHaveProperty('wholeBatch');
    fake.respondNext({ status: 200, body: { code: 40100, message: 'Too many requests', request_id: 'q' } });
    expect((await tiktok.send([conversion(1)], testContext(config())))[0]).toMatchObject({
      status: 'retry',
      vendorCode: '40100',
    });
    expect((await tiktok.send([conversion(1)], testContext(config({ endpoint: DEAD_ENDPOINT }))))[0].status).toBe(
      'retry',
    );
  });

  it('is refused by the fake above 1,000 events', async () => {
    await fake.close();
    fake = await startFakeTiktok({ maxEvents: 2 });
    const outcomes = await tiktok.send([conversion(1), conversion(2), conversion(3)], testContext(config()));
    expect(outcomes.every((o) => o.status === 'rejected' && o.vendorCode === '40002' && o.wholeBatch)).toBe(true);
    expect(fake.events.size).toBe(0);
  });

  it('sends test_event_code in validate mode and refuses validate mode without one', async () => {
    const refused = await tiktok.send([conversion(1)], testContext(config(), { validate: true }));
    expect(refused[0]).toMatchObject({ status: 'rejected', vendorCode: 'config' });
    expect(fake.requestCount).toBe(0);
    await tiktok.send([conversion(1)], testContext(config({ testEventCode: 'T1' }), { validate: true }));
    expect(fake.requests[0].json).toMatchObject({ test_event_code: 'T1' });
  });
});
