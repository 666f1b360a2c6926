/** Salesforce collections upsert against the fake: per-record results, request errors, limits. */
import salesforce, { configSchema } from '../../destinations/salesforce';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeSalesforce, type FakeSalesforce } from '../fakes';
import { DEAD_ENDPOINT, FIXED_NOW, testContext } from './context';

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

  it('fails the run on a refused token with no way to renew it; retries a spent API allowance and network failures', async () => {
    await expect(salesforce.send([user(1)], testContext(config({ accessToken: 'expired' })))).rejects.toThrow(
      /refused the access token \(401 INVALID_SESSION_ID: Session expired or invalid\) and no auth flow is configured/,
    );
    expect(fake.records.size).toBe(0);
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

describe('salesforce Bulk API 2.0 above the threshold', () => {
  let fake: FakeSalesforce;
  beforeEach(async () => {
    fake = await startFakeSalesforce({ duplicateExternalIds: ['p-dup'], bulkPollsUntilDone: 2 });
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({
      endpoint: fake.url,
      accessToken: 'test-token',
      externalIdField: 'Tagpipe_Person_Id__c',
      bulkThreshold: 100,
      bulkPollIntervalMs: 10,
      ...extra,
    });

  it('runs one job for a large batch and maps successful and failed results back to the records', async () => {
    fake.lockedExternalIds.add('p-7');
    const batch = Array.from({ length: 300 }, (_, i) => user(i));
    batch[5] = user(0, { Tagpipe_Person_Id__c: 'p-dup' });
    batch[9] = { key: 'p-9', action: 'upsert', row: { Tagpipe_Person_Id__c: 'p-9', FirstName: 'No last name' } };
    const outcomes = await salesforce.send(batch, testContext(config()));
    expect(outcomes).toHaveLength(300);
    const statuses = outcomes.map((o) => (o.status === 'ok' ? 'ok' : `${o.status}:${o.vendorCode}`));
    expect(statuses[5]).toBe('rejected:DUPLICATE_EXTERNAL_ID');
    expect(statuses[7]).toBe('retry:UNABLE_TO_LOCK_ROW');
    expect(statuses[9]).toBe('rejected:REQUIRED_FIELD_MISSING');
    expect(statuses.filter((s) => s === 'ok')).toHaveLength(297);
    expect(fake.records.size).toBe(297);
    expect(fake.records.get('Contact:p-42')).toMatchObject({ LastName: 'Last42', Purchase_Count__c: 42 });
    const calls = fake.requests.map((r) => `${r.method} ${r.path.replace(/750\d+/, 'JOB')}`);
    expect(calls).toEqual([
      'POST /services/data/v68.0/jobs/ingest',
      'PUT /services/data/v68.0/jobs/ingest/JOB/batches',
      'PATCH /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB',
      'GET /services/data/v68.0/jobs/ingest/JOB/successfulResults/',
      'GET /services/data/v68.0/jobs/ingest/JOB/failedResults/',
      'GET /services/data/v68.0/jobs/ingest/JOB/unprocessedrecords/',
    ]);
    expect(fake.requests[1].headers['content-type']).toBe('text/csv');
  });

  it('uses collections below the threshold', async () => {
    await salesforce.send([user(1), user(2)], testContext(config()));
    expect(fake.requests.map((r) => r.path)).toEqual([
      '/services/data/v68.0/composite/sobjects/Contact/Tagpipe_Person_Id__c',
    ]);
  });

  it('marks a failed job (unknown field) as a whole-batch rejection', async () => {
    const batch = Array.from({ length: 120 }, (_, i) => user(i, { Favourite__c: 'x' }));
    const outcomes = await salesforce.send(batch, testContext(config()));
    expect(
      outcomes.every(
        (o) => o.status === 'rejected' && o.wholeBatch && /Field name not found : Favourite__c/.test(o.reason),
      ),
    ).toBe(true);
    expect(fake.records.size).toBe(0);
  });

  it('gives up polling after bulkTimeoutMs with retry outcomes', async () => {
    await fake.close();
    fake = await startFakeSalesforce({ bulkPollsUntilDone: 1_000_000 });
    let now = FIXED_NOW.getTime();
    const ctx = testContext(config({ bulkTimeoutMs: 1000, bulkPollIntervalMs: 300 }));
    ctx.clock = { now: () => new Date(now), sleep: (ms) => Promise.resolve(void (now += ms)) };
    const outcomes = await salesforce.send(
      Array.from({ length: 100 }, (_, i) => user(i)),
      ctx,
    );
    expect(outcomes.every((o) => o.status === 'retry' && /still InProgress after 1000 ms/.test(o.reason))).toBe(true);
    expect(fake.requests.filter((r) => r.method === 'GET')).toHaveLength(5);
  });
});
