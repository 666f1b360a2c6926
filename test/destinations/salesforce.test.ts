/** Salesforce collections upsert against the fake: per-record results, request errors, limits. */
import salesforce, { configSchema } from '../../destinations/salesforce';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes';
import { DEAD_ENDPOINT, testContext } from './context';

const user = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `p-${i}`,
  action: 'upsert',
  row: { Tagpipe_Person_Id__c: `p-${i}`, LastName: `Last${i}`, Purchase_Count__c: i, ...extra },
});

describe('salesforce against the REST API fake', () => {
  let fake: FakeSalesforce;
  beforeEach(async () => {
    fake = await startFakeSalesforce({ duplicateExternalIds: ['p-dup'] });
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({
      endpoint: fake.url,
      accessToken: 'test-token',
      externalIdField: 'Tagpipe_Person_Id__c',
      ...extra,
    });

  it('upserts 450 records in requests of at most 200 with allOrNone false, then updates them', async () => {
    const batch = Array.from({ length: 450 }, (_, i) => user(i));
    expect((await salesforce.send(batch, testContext(config()))).every((o) => o.status === 'ok')).toBe(true);
    expect(fake.requests.map((r) => (r.json as { records: unknown[] }).records.length)).toEqual([200, 200, 50]);
    expect(fake.requests[0]).toMatchObject({
      method: 'PATCH',
      path: '/services/data/v68.0/composite/sobjects/Contact/Tagpipe_Person_Id__c',
    });
    expect(fake.requests[0].json).toMatchObject({ allOrNone: false });
    await salesforce.send([user(5, { FirstName: 'Ann' })], testContext(config()));
    expect(fake.records.size).toBe(450);
    expect(fake.records.get('Contact:p-5')).toMatchObject({
      FirstName: 'Ann',
      LastName: 'Last5',
      Purchase_Count__c: 5,
    });
  });

  it('maps per-record failures: multiple matches and missing fields rejected, locked rows retried, others ok', async () => {
    fake.lockedExternalIds.add('p-2');
    const batch = [
      user(1),
      user(2),
      user(0, { Tagpipe_Person_Id__c: 'p-dup' }),
      { ...user(3), row: { Tagpipe_Person_Id__c: 'p-3' } },
      user(4),
    ];
    const outcomes = await salesforce.send(batch, testContext(config()));
    expect(outcomes.map((o) => (o.status === 'ok' ? 'ok' : `${o.status}:${o.vendorCode}`))).toEqual([
      'ok',
      'retry:UNABLE_TO_LOCK_ROW',
      'rejected:DUPLICATE_EXTERNAL_ID',
      'rejected:REQUIRED_FIELD_MISSING',
      'ok',
    ]);
    expect([...fake.records.keys()]).toEqual(['Contact:p-1', 'Contact:p-4']);
    fake.lockedExternalIds.delete('p-2');
    expect((await salesforce.send([user(2)], testContext(config())))[0].status).toBe('ok');
  });

  it('marks a request failing on an unknown field as whole-batch, and is refused above 200 records', async () => {
    const outcomes = await salesforce.send([user(1), user(2, { Favourite__c: 'x' })], testContext(config()));
    expect(outcomes.every((o) => o.status === 'rejected' && o.wholeBatch && o.vendorCode === 'INVALID_FIELD')).toBe(
      true,
    );
    await fake.close();
    fake = await startFakeSalesforce({ maxRecords: 2 });
    const over = await salesforce.send([user(1), user(2), user(3)], testContext(config()));
    expect(over[0]).toMatchObject({ status: 'rejected', vendorCode: 'EXCEEDED_ID_LIMIT', httpStatus: 400 });
    expect(fake.records.size).toBe(0);
  });

  it('retries an expired session and a spent API allowance with their back-offs, and network failures', async () => {
    const session = await salesforce.send([user(1)], testContext(config({ accessToken: 'expired' })));
    expect(session[0]).toMatchObject({
      status: 'retry',
      httpStatus: 401,
      vendorCode: 'INVALID_SESSION_ID',
      retryAfterMs: 60_000,
    });
    await fake.close();
    fake = await startFakeSalesforce({ requestLimit: 1 });
    expect((await salesforce.send([user(1)], testContext(config())))[0].status).toBe('ok');
    expect((await salesforce.send([user(2)], testContext(config())))[0]).toMatchObject({
      status: 'retry',
      httpStatus: 403,
      vendorCode: 'REQUEST_LIMIT_EXCEEDED',
    });
    expect((await salesforce.send([user(1)], testContext(config({ endpoint: DEAD_ENDPOINT }))))[0].status).toBe(
      'retry',
    );
  });
});
