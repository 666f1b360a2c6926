/** Google Ads via the Data Manager API against the fake: conversions, Customer Match, fast-fail, validateOnly. */
import googleAds from '../../destinations/google-ads';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeDataManager, type FakeDataManager } from '../fakes';
import { DEAD_ENDPOINT, FIXED_NOW, testContext } from './context';
import { dataManagerConfig } from './google-ads-records';

const hex = (i: number) => i.toString(16).padStart(64, 'a');
const conversion = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `T-${i}`,
  action: 'send',
  row: {
    event_id: `e-${i}`,
    transaction_id: `T-${i}`,
    occurred_at: FIXED_NOW.toISOString(),
    gclid: `gclid-${i}`,
    value: i,
    currency: 'USD',
    ...extra,
  },
});
const member = (i: number, action: 'add' | 'remove'): SyncRecord => ({
  key: `vip:p-${i}`,
  action,
  row: {
    audience_id: 'vip',
    person_id: `p-${i}`,
    email_sha256: hex(i),
    consent_ad_user_data: true,
    consent_ad_personalization: true,
  },
});

describe('google-ads against the Data Manager fake', () => {
  let fake: FakeDataManager;
  beforeEach(async () => {
    fake = await startFakeDataManager();
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) => dataManagerConfig(fake.url, extra);

  it('ingests 4,500 conversions in requests of at most 2,000 and keeps the requestId', async () => {
    const batch = Array.from({ length: 4500 }, (_, i) => conversion(i));
    const outcomes = await googleAds.send(batch, testContext(config()));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(outcomes[0]).toMatchObject({ requestId: 'req-1' });
    expect(outcomes[4499]).toMatchObject({ requestId: 'req-3' });
    expect(fake.requests.map((r) => (r.json as { events: unknown[] }).events.length)).toEqual([2000, 2000, 500]);
    expect(fake.requests[0].headers.authorization).toBe('Bearer test-token');
    expect(fake.conversions.size).toBe(4500);
  });

  it('adds and removes Customer Match members, mixed with conversions in one batch, in order', async () => {
    const outcomes = await googleAds.send(
      [member(1, 'add'), conversion(1), member(2, 'add'), member(3, 'add')],
      testContext(config()),
    );
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'ok', 'ok']);
    await googleAds.send([member(2, 'remove')], testContext(config()));
    expect([...(fake.audiences.get('777') ?? [])]).toEqual([`emailAddress:${hex(1)}`, `emailAddress:${hex(3)}`]);
    expect(fake.requests.map((r) => r.path)).toEqual([
      '/v1/events:ingest',
      '/v1/audienceMembers:ingest',
      '/v1/audienceMembers:remove',
    ]);
  });

  it('fails fast on one bad record: it is rejected, the others retried, nothing ingested', async () => {
    const batch = [conversion(1), conversion(2, { currency: 'euro' }), conversion(3)];
    const outcomes = await googleAds.send(batch, testContext(config()));
    expect(outcomes.map((o) => o.status)).toEqual(['retry', 'rejected', 'retry']);
    expect(outcomes[1]).toMatchObject({
      reason: expect.stringContaining('events[1].currency') as unknown,
      httpStatus: 400,
    });
    expect(fake.conversions.size).toBe(0);
    expect((await googleAds.send([batch[0], batch[2]], testContext(config()))).map((o) => o.status)).toEqual([
      'ok',
      'ok',
    ]);
  });

  it('marks a request-level violation (too many events) as whole-batch', async () => {
    await fake.close();
    fake = await startFakeDataManager({ maxEvents: 2 });
    const outcomes = await googleAds.send([conversion(1), conversion(2), conversion(3)], testContext(config()));
    expect(outcomes.every((o) => o.status === 'rejected' && o.wholeBatch === true)).toBe(true);
  });

  it('sends validateOnly in validate mode and ingests nothing', async () => {
    const outcomes = await googleAds.send([conversion(1), member(1, 'add')], testContext(config(), { validate: true }));
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok']);
    expect(fake.requests.every((r) => (r.json as { validateOnly?: boolean }).validateOnly === true)).toBe(true);
    expect(fake.conversions.size).toBe(0);
    expect(fake.audiences.size).toBe(0);
  });

  it('fails the run on a refused fixed token, retries 503 and network failures, refuses rows without a target', async () => {
    await expect(googleAds.send([conversion(1)], testContext(config({ accessToken: 'expired' })))).rejects.toThrow(
      /refused the access token \(401 UNAUTHENTICATED.*a fixed accessToken cannot be renewed/,
    );
    expect(fake.conversions.size).toBe(0);
    fake.respondNext({ status: 503, body: { error: { code: 503, status: 'UNAVAILABLE', message: 'try later' } } });
    expect((await googleAds.send([conversion(1)], testContext(config())))[0]).toMatchObject({
      status: 'retry',
      httpStatus: 503,
    });
    expect((await googleAds.send([conversion(1)], testContext(config({ endpoint: DEAD_ENDPOINT }))))[0].status).toBe(
      'retry',
    );
    const noTarget = await googleAds.send([conversion(1)], testContext(config({ conversionActionId: undefined })));
    expect(noTarget[0]).toMatchObject({ status: 'rejected', vendorCode: 'config' });
  });
});
