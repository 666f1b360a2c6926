/**
 * Data Manager request status: the fake processes accepted requests after answering (PROCESSING, then SUCCESS /
 * PARTIAL_SUCCESS / FAILED per destination), google-ads polls requestStatus:retrieve with capped backoff under the
 * read quota, and the sync executor records each request's outcome in `_tagpipe.request_status`, marks the run
 * partial when Google reports failed records, and checks requests left pending again on the next run.
 */
import googleAds from '../../destinations/google-ads';
import { reduceStatus } from '../../destinations/google-ads/status';
import type { SyncRecord } from '../../src/core/destination';
import { createHttpClient } from '../../src/core/http';
import { silentLogger } from '../../src/core/logger';
import { parseSync } from '../../src/sync/config';
import { runSync } from '../../src/sync/executor';
import { openLocalWarehouse, type DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { startFakeDataManager, type FakeDataManager } from '../fakes';
import { FakeClock, NOW, tempDir } from '../sync/helpers';
import { testContext } from './context';
import { conversion, dataManagerConfig } from './google-ads-records';

const hex = (i: number) => i.toString(16).padStart(64, 'a');
const DAY = 24 * 3600_000;
const member = (i: number, audience: string, action: 'add' | 'remove' = 'add'): SyncRecord => ({
  key: `${audience}:p-${i}`,
  action,
  row: { audience_id: audience, email_sha256: hex(i), consent_ad_user_data: true, consent_ad_personalization: true },
});

let fake: FakeDataManager;
let clock: FakeClock;
afterEach(() => fake.close());

async function start(options: Parameters<typeof startFakeDataManager>[0] = {}) {
  clock = new FakeClock();
  fake = await startFakeDataManager({ now: () => clock.now(), ...options });
}
const config = (extra: Record<string, unknown> = {}) => dataManagerConfig(fake.url, extra);
const ctxFor = (extra: Record<string, unknown> = {}) => {
  const ctx = testContext(config(extra));
  ctx.clock = clock;
  return ctx;
};
const statusReads = () => fake.requests.filter((r) => r.path === '/v1/requestStatus:retrieve');

describe('Data Manager request status', () => {
  it('polls a PROCESSING request until done and reports which records failed and why', async () => {
    await start({ statusPollsUntilDone: 2, invalidGclids: ['gclid-2'] });
    const ctx = ctxFor();
    const batch = [
      conversion(1),
      conversion(2),
      conversion(3, { occurred_at: new Date(NOW.getTime() - 100 * DAY).toISOString() }),
      conversion(4),
    ];
    const outcomes = await googleAds.send(batch, ctx);
    expect(outcomes.map((o) => o.status === 'ok' && o.requestId)).toEqual(['req-1', 'req-1', 'req-1', 'req-1']);
    // Accepted is not ingested: the two bad conversions never reach Google Ads.
    expect([...fake.conversions.keys()]).toEqual(['555:T-1', '555:T-4']);

    const verification = await googleAds.verify?.(['req-1', 'req-1'], ctx);
    expect(verification).toEqual([
      {
        requestId: 'req-1',
        status: 'partial',
        records: 4,
        failedRecords: 2,
        errors: ['PROCESSING_ERROR_REASON_INVALID_GCLID x1', 'PROCESSING_ERROR_REASON_EVENT_TOO_OLD x1'],
      },
    ]);
    // Two PROCESSING answers, then the result; backoff 5 s, then 10 s.
    expect(statusReads().map((r) => r.query)).toEqual([
      { requestId: 'req-1' },
      { requestId: 'req-1' },
      { requestId: 'req-1' },
    ]);
    expect(statusReads()[0].headers.authorization).toBe('Bearer test-token');
    expect(clock.sleeps).toEqual([5000, 10000]);
  });

  it('backs off exponentially, capped at 60 s, and gives up at verifyTimeoutMs with pending', async () => {
    await start({ statusPollsUntilDone: 1_000 });
    const ctx = ctxFor({ verifyTimeoutMs: 200_000 });
    await googleAds.send([conversion(1)], ctx);
    const [v] = (await googleAds.verify?.(['req-1'], ctx)) ?? [];
    expect(v).toEqual({ requestId: 'req-1', status: 'pending', records: 1, errors: [] });
    // 5 + 10 + 20 + 40 + 60 + 60 = 195 s, then the 5 s left.
    expect(clock.sleeps).toEqual([5000, 10000, 20000, 40000, 60000, 60000, 5000]);
    expect(statusReads()).toHaveLength(8);
  });

  it('paces reads under the read quota, reports unknown ids, and keeps transient failures pending', async () => {
    await start({ statusPollsUntilDone: 0 });
    const ctx = ctxFor({ verifyTimeoutMs: 0, statusRequestsPerMinute: 120 });
    await googleAds.send([conversion(1)], ctx);
    await googleAds.send([conversion(2)], ctx);
    fake.respondNext({
      status: 503,
      body: { error: { code: 503, status: 'UNAVAILABLE', message: 'The service is currently unavailable.' } },
    });
    const result = await googleAds.verify?.(['req-1', 'req-2', 'nope'], ctx);
    expect(result).toEqual([
      {
        requestId: 'req-1',
        status: 'pending',
        errors: ['requestStatus 503 UNAVAILABLE: The service is currently unavailable.'],
      },
      { requestId: 'req-2', status: 'success', records: 1, errors: [] },
      { requestId: 'nope', status: 'unknown', errors: ['NOT_FOUND: Request nope was not found.'] },
    ]);
    // 120 reads a minute: 500 ms between reads; verifyTimeoutMs 0 means one look, no backoff.
    expect(clock.sleeps).toEqual([500, 500]);
    // The next look (e.g. the next run) gets the answer.
    expect(await googleAds.verify?.(['req-1'], ctx)).toEqual([
      { requestId: 'req-1', status: 'success', records: 1, errors: [] },
    ]);
  });

  it('reports Customer Match ingest and removal, and a whole destination failing for lack of consent', async () => {
    await start({ accountsWithoutConsent: ['999'] });
    const ctx = ctxFor();
    await googleAds.send([member(1, 'vip'), member(2, 'vip')], ctx);
    await googleAds.send([member(1, 'vip', 'remove')], ctx);
    await googleAds.send([member(3, 'vip')], ctxFor({ operatingAccountId: '999' }));
    expect(await googleAds.verify?.(['req-1', 'req-2', 'req-3'], ctx)).toEqual([
      { requestId: 'req-1', status: 'success', records: 2, errors: [] },
      { requestId: 'req-2', status: 'success', records: 1, errors: [] },
      {
        requestId: 'req-3',
        status: 'failure',
        records: 1,
        failedRecords: 1,
        errors: ['PROCESSING_ERROR_REASON_NO_CONSENT x1'],
      },
    ]);
    expect([...(fake.audiences.get('777') ?? [])]).toEqual([`emailAddress:${hex(2)}`]);
  });

  it('answers per destination of a multi-destination request, in request order', async () => {
    await start({ accountsWithoutConsent: ['2'] });
    const http = createHttpClient({ timeoutMs: 5000, userAgent: 't' });
    const post = await http({
      method: 'POST',
      url: `${fake.url}/v1/events:ingest`,
      headers: { authorization: 'Bearer test-token', 'content-type': 'application/json' },
      body: JSON.stringify({
        destinations: [
          { operatingAccount: { accountId: '1', accountType: 'GOOGLE_ADS' }, productDestinationId: 'a' },
          { operatingAccount: { accountId: '2', accountType: 'GOOGLE_ADS' }, productDestinationId: 'b' },
        ],
        events: [{ transactionId: 'x', eventTimestamp: NOW.toISOString(), adIdentifiers: { gclid: 'g' } }],
      }),
    });
    expect(post.json).toEqual({ requestId: 'req-1' });
    const read = () =>
      http({
        method: 'GET',
        url: `${fake.url}/v1/requestStatus:retrieve?requestId=req-1`,
        headers: { authorization: 'Bearer test-token' },
      });
    const first = await read();
    expect(first.json).toMatchObject({
      requestStatusPerDestination: [{ requestStatus: 'PROCESSING' }, { requestStatus: 'PROCESSING' }],
    });
    const second = await read();
    expect(second.json).toEqual({
      requestStatusPerDestination: [
        {
          destination: expect.objectContaining({ productDestinationId: 'a' }) as unknown,
          requestStatus: 'SUCCESS',
          eventsIngestionStatus: { recordCount: '1' },
        },
        {
          destination: expect.objectContaining({ productDestinationId: 'b' }) as unknown,
          requestStatus: 'FAILED',
          errorInfo: { errorCounts: [{ reason: 'PROCESSING_ERROR_REASON_NO_CONSENT', recordCount: '1' }] },
          eventsIngestionStatus: { recordCount: '1' },
        },
      ],
    });
    expect(reduceStatus('req-1', second.json)).toEqual({
      requestId: 'req-1',
      status: 'partial',
      records: 2,
      failedRecords: 1,
      errors: ['b: PROCESSING_ERROR_REASON_NO_CONSENT x1'],
    });
    const missing = await http({
      method: 'GET',
      url: `${fake.url}/v1/requestStatus:retrieve`,
      headers: { authorization: 'Bearer test-token' },
    });
    expect(missing).toMatchObject({ status: 400, json: { error: { status: 'INVALID_ARGUMENT' } } });
    const anonymous = await http({ method: 'GET', url: `${fake.url}/v1/requestStatus:retrieve?requestId=req-1` });
    expect(anonymous.status).toBe(401);
  });

  it('does not verify in validate mode (validateOnly returns no request id) or when turned off', async () => {
    await start();
    const ctx = ctxFor();
    ctx.validate = true;
    const outcomes = await googleAds.send([conversion(1)], ctx);
    expect(outcomes[0]).toEqual({ status: 'ok', httpStatus: 200 });
    expect(await googleAds.verify?.(['req-1'], ctx)).toEqual([]);
    expect(await googleAds.verify?.(['req-1'], ctxFor({ verify: false }))).toEqual([]);
    expect(statusReads()).toHaveLength(0);
  });
});

describe('sync runs record what Google made of their requests', () => {
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    wh = await openLocalWarehouse(tempDir(), { readOnly: false });
    await wh.exec('CREATE SCHEMA marts');
    await wh.exec(`CREATE TABLE marts.conversions (conversion_key VARCHAR, transaction_id VARCHAR,
      occurred_at TIMESTAMP, gclid VARCHAR, value DOUBLE, currency VARCHAR, consent_analytics BOOLEAN,
      consent_ads BOOLEAN, consent_ad_user_data BOOLEAN, consent_ad_personalization BOOLEAN, consent_source VARCHAR)`);
  });
  afterEach(() => wh.close());
  const add = (from: number, to: number) =>
    wh.exec(`INSERT INTO marts.conversions SELECT 'c' || i, 'T-' || i, TIMESTAMP '2026-03-10 11:00:00', 'gclid-' || i,
      i, 'EUR', true, true, true, true, 'gcm' FROM range(${from}, ${to}) t(i)`);
  const runOnce = (extra: Record<string, unknown> = {}) =>
    runSync(parseSync({ name: 'conv_ads', destination: 'google-ads', mode: 'append', source: 'conversions' }), {
      warehouse: wh,
      destination: googleAds as never,
      destinationConfig: config({ batchSize: 3, ...extra }),
      http: createHttpClient({ timeoutMs: 5000, userAgent: 't' }),
      logger: silentLogger,
      clock,
    });

  it('marks the run partial with the reasons and keeps one status row per request', async () => {
    await start({ invalidGclids: ['gclid-4'] });
    await add(0, 5);
    const result = await runOnce();
    expect(result.run).toMatchObject({ status: 'partial', delivered: 5, rejected: 0, requests: 2 });
    expect(result.run.error).toBe(
      'google-ads reported failed records in 1 of 2 requests (failed records: 1): PROCESSING_ERROR_REASON_INVALID_GCLID x1',
    );
    expect(result.verification?.map((v) => [v.requestId, v.status])).toEqual([
      ['req-1', 'success'],
      ['req-2', 'partial'],
    ]);
    const rows = await wh.query(
      `SELECT request_id, status, records, failed_records, errors FROM _tagpipe.request_status ORDER BY request_id`,
    );
    expect(rows).toEqual([
      { request_id: 'req-1', status: 'success', records: 3, failed_records: null, errors: null },
      {
        request_id: 'req-2',
        status: 'partial',
        records: 2,
        failed_records: 1,
        errors: 'PROCESSING_ERROR_REASON_INVALID_GCLID x1',
      },
    ]);
    const [runRow] = await wh.query<{ status: string; error: string }>(`SELECT status, error FROM _tagpipe.sync_runs`);
    expect(runRow).toEqual({ status: 'partial', error: result.run.error });
  });

  it('checks on the next run the requests of a run that did not check them', async () => {
    await start({ statusPollsUntilDone: 0 });
    await add(0, 2);
    const unchecked = await runOnce({ verify: false });
    expect(unchecked.verification).toEqual([]);
    const next = await runOnce();
    expect(next.run.planned).toBe(0);
    expect(next.verification).toEqual([{ requestId: 'req-1', status: 'success', records: 2, errors: [] }]);
    // Settled: a third run has nothing to check.
    expect((await runOnce()).verification).toEqual([]);
    expect(statusReads()).toHaveLength(1);
  });

  it('checks requests left pending again on the next run', async () => {
    await start({ statusPollsUntilDone: 1 });
    await add(0, 2);
    const first = await runOnce({ verifyTimeoutMs: 0 });
    expect(first.run.status).toBe('ok');
    expect(first.verification).toEqual([{ requestId: 'req-1', status: 'pending', records: 2, errors: [] }]);
    await add(2, 3);
    const second = await runOnce({ verifyTimeoutMs: 0 });
    expect(second.verification?.map((v) => [v.requestId, v.status]).sort()).toEqual([
      ['req-1', 'success'],
      ['req-2', 'pending'],
    ]);
    const rows = await wh.query<{ request_id: string; status: string }>(
      `SELECT request_id, status FROM _tagpipe.request_status ORDER BY checked_at, request_id, status`,
    );
    expect(rows).toEqual([
      { request_id: 'req-1', status: 'pending' },
      { request_id: 'req-1', status: 'success' },
      { request_id: 'req-2', status: 'pending' },
    ]);
  });
});
