/** GA4 Measurement Protocol against the fake: what lands, what GA4 would silently drop, the debug endpoint. */
import ga4Mp, { configSchema } from '../../destinations/ga4-mp';
import { sendEvents } from '../../destinations/ga4-mp/client';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeGa4, type FakeGa4 } from '../fakes';
import { DEAD_ENDPOINT, FIXED_NOW, testContext } from './context';

const conversion = (i: number, client = `c.${i}`, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `e-${i}`,
  action: 'send',
  row: {
    event_id: `e-${i}`,
    event_name: 'purchase',
    conversion_type: 'purchase',
    occurred_at: new Date(FIXED_NOW.getTime() - 3600_000).toISOString(),
    transaction_id: `T-${i}`,
    value: i,
    currency: 'USD',
    anonymous_id: client,
    ...extra,
  },
});

describe('ga4-mp against the Measurement Protocol fake', () => {
  let fake: FakeGa4;
  beforeEach(async () => {
    fake = await startFakeGa4({ now: () => FIXED_NOW });
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({ measurementId: 'G-ABC123', apiSecret: 'secret', endpoint: fake.url, ...extra });

  it('delivers valid rows, one request per client with at most 25 events, and nothing GA4 would drop', async () => {
    const batch = [
      ...Array.from({ length: 30 }, (_, i) => conversion(i, 'shared.client')),
      conversion(100, 'other.client'),
      conversion(101, 'x', { event_name: 'bad name', conversion_type: 'other' }),
    ];
    const outcomes = await ga4Mp.send(batch, testContext(config()));
    expect(outcomes.filter((o) => o.status === 'ok')).toHaveLength(31);
    expect(outcomes[31]).toMatchObject({ status: 'rejected', vendorCode: 'local_validation' });
    expect(fake.requests.map((r) => (r.json as { events: unknown[] }).events.length)).toEqual([25, 5, 1]);
    expect(fake.requests[0].query).toEqual({ measurement_id: 'G-ABC123', api_secret: 'secret' });
    expect(fake.dropped).toBe(0);
    expect(fake.collected.map((e) => e.params.transaction_id)).toEqual([
      ...Array.from({ length: 30 }, (_, i) => `T-${i}`),
      'T-100',
    ]);
  });

  it('shows why local validation matters: the real endpoint answers 204 and drops an invalid event', async () => {
    const outcomes = await sendEvents(
      { client_id: 'c.1' },
      [{ name: 'bad name', params: {}, timestamp_micros: FIXED_NOW.getTime() * 1000 }],
      testContext(config()),
    );
    expect(outcomes[0]).toMatchObject({ status: 'ok', httpStatus: 204 });
    expect(fake.dropped).toBe(1);
    expect(fake.collected).toHaveLength(0);
  });

  it('in validate mode uses /debug/mp/collect, records nothing, and maps validation messages to the events', async () => {
    const ctx = testContext(config(), { validate: true });
    const ok = await ga4Mp.send([conversion(1), conversion(2)], ctx);
    expect(ok.map((o) => o.status)).toEqual(['ok', 'ok']);
    expect(fake.requests.every((r) => r.path === '/debug/mp/collect')).toBe(true);
    const events = [
      { name: 'purchase', params: { currency: 'usd' }, timestamp_micros: FIXED_NOW.getTime() * 1000 },
      { name: 'purchase', params: { currency: 'USD' }, timestamp_micros: FIXED_NOW.getTime() * 1000 },
      { name: 'first_visit', params: {}, timestamp_micros: FIXED_NOW.getTime() * 1000 },
    ];
    const outcomes = await sendEvents({ client_id: 'c.1' }, events, ctx);
    expect(outcomes.map((o) => (o.status === 'rejected' ? o.vendorCode : o.status))).toEqual([
      'VALUE_INVALID',
      'ok',
      'NAME_RESERVED',
    ]);
    expect(fake.collected).toHaveLength(0);
  });

  it('retries 429 with Retry-After, 5xx and network failures', async () => {
    fake.respondNext({ status: 429, headers: { 'retry-after': '2' } }, { status: 500 });
    const ctx = testContext(config());
    expect((await ga4Mp.send([conversion(1)], ctx))[0]).toMatchObject({ status: 'retry', retryAfterMs: 2000 });
    expect((await ga4Mp.send([conversion(1)], ctx))[0]).toMatchObject({ status: 'retry', httpStatus: 500 });
    expect((await ga4Mp.send([conversion(1)], testContext(config({ endpoint: DEAD_ENDPOINT }))))[0].status).toBe(
      'retry',
    );
  });

  it('splits a client whose events exceed 130 kB', async () => {
    const items = Array.from({ length: 200 }, (_, i) => ({
      item_id: `SKU-${i}`,
      item_name: 'n'.repeat(90),
      price: 1,
      quantity: 1,
    }));
    const batch = Array.from({ length: 8 }, (_, i) => conversion(i, 'big.client', { items }));
    const outcomes = await ga4Mp.send(batch, testContext(config()));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(fake.requests.length).toBeGreaterThan(1);
    for (const r of fake.requests) expect(Buffer.byteLength(r.body)).toBeLessThan(130_000);
    expect(fake.collected).toHaveLength(8);
  });
});
