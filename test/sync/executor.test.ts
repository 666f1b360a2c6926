import fs from 'node:fs';
import path from 'node:path';
import type { Outcome } from '../../src/core/destination';
import { RateLimitedError } from '../../src/core/errors';
import { createOutboxHttpClient, readOutbox } from '../../src/sync/outbox';
import type { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { localPaths } from '../../src/warehouse/types';
import {
  addConversions,
  addMembers,
  createMarts,
  FakeClock,
  ledgerRows,
  openLocalWarehouse,
  run,
  syncDef,
  tempDir,
  testDestination,
} from './helpers';

let wh: DuckDbWarehouse;
let dir: string;
beforeEach(async () => {
  dir = tempDir();
  wh = await openLocalWarehouse(dir, { readOnly: false });
  await createMarts(wh);
});
afterEach(async () => {
  await wh.close();
});

const conv = (over: Record<string, unknown> = {}) =>
  syncDef({ name: 'conv', mode: 'append', source: 'conversions', ...over });

describe('executor', () => {
  test('fills batches to the record limit, in key order, and records ok per row with consent basis', async () => {
    await addConversions(wh, 10);
    const dest = testDestination({ limits: { maxBatchSize: 4 } });
    const result = await run(wh, conv(), dest, new FakeClock());
    expect(dest.calls.map((c) => c.records.length)).toEqual([4, 4, 2]);
    expect(dest.calls.flatMap((c) => c.records.map((r) => r.key))).toEqual(
      Array.from({ length: 10 }, (_, i) => `c${String(i).padStart(6, '0')}`),
    );
    expect(result.stats).toMatchObject({ batches: 3, records: 10, fillRatio: 1 });
    expect(result.run).toMatchObject({ status: 'ok', planned: 10, delivered: 10, requests: 3 });
    const ledger = await ledgerRows(wh, 'conv');
    expect(ledger.filter((r) => r.outcome === 'pending')).toHaveLength(10);
    const ok = ledger.filter((r) => r.outcome === 'ok');
    expect(ok).toHaveLength(10);
    expect(ok[0]).toMatchObject({
      key: 'c000000',
      event_id: 'e000000',
      action: 'send',
      http_status: 200,
      attempts: 1,
      consent_basis: 'gcm:ads',
      request_id: 'req-1',
    });
    // Sent once: a second run has nothing to do.
    expect((await run(wh, conv(), dest, new FakeClock())).run.planned).toBe(0);
  });

  test('the send runs at the smaller DuckDB budget, and the run ends with the budget it started with', async () => {
    await addConversions(wh, 6);
    const limit = async () => (await wh.query<{ l: string }>(`SELECT current_setting('memory_limit') AS l`))[0].l;
    const before = await limit();
    const during: string[] = [];
    const dest = testDestination({
      limits: { maxBatchSize: 3 },
      respond: async (records) => {
        during.push(await limit());
        return records.map(() => ({ status: 'ok' as const }));
      },
    });
    expect((await run(wh, conv(), dest, new FakeClock())).run).toMatchObject({ status: 'ok', delivered: 6 });
    // SYNC_SEND_MEMORY_LIMIT (24 MB) as DuckDB prints it, under the open's 64 MB (61.0 MiB).
    expect(during).toEqual(['22.8 MiB', '22.8 MiB']);
    expect(before).toBe('61.0 MiB');
    expect(await limit()).toBe(before);
  });

  test('fills batches to the payload byte limit', async () => {
    await addConversions(wh, 9);
    // The executor sizes a record by its JSON text from planning (key first, then the columns): equal here for all 9 rows.
    const [{ n: rowBytes }] = await wh.query<{ n: number }>(
      `SELECT max(length(CAST(to_json(x) AS VARCHAR))) AS n FROM (SELECT CAST(conversion_key AS VARCHAR) AS _tp_key, * FROM marts.conversions) x`,
    );
    const dest = testDestination({ limits: { maxBatchSize: 100, maxPayloadBytes: rowBytes * 4 + 10 } });
    await run(wh, conv(), dest, new FakeClock());
    expect(dest.calls.map((c) => c.records.length)).toEqual([4, 4, 1]);
  });

  test('429 with Retry-After pauses every request for that long, then the batch is re-sent', async () => {
    await addConversions(wh, 6);
    const clock = new FakeClock();
    const dest = testDestination({
      clock,
      limits: { maxBatchSize: 3, maxConcurrency: 1 },
      respond: (records, call) =>
        call === 0
          ? records.map(() => ({ status: 'retry', reason: 'rate limited', httpStatus: 429, retryAfterMs: 30_000 }))
          : records.map(() => ({ status: 'ok', httpStatus: 200 })),
    });
    const result = await run(wh, conv(), dest, clock);
    expect(result.run).toMatchObject({ status: 'ok', delivered: 6, requests: 3 });
    expect(dest.calls.map((c) => c.records.map((r) => r.key).join(','))).toEqual([
      'c000000,c000001,c000002',
      'c000000,c000001,c000002',
      'c000003,c000004,c000005',
    ]);
    expect(dest.calls[1].at - dest.calls[0].at).toBeGreaterThanOrEqual(30_000);
    const ledger = await ledgerRows(wh, 'conv');
    expect(ledger.filter((r) => r.key === 'c000000').map((r) => [r.outcome, r.attempts, r.http_status])).toEqual([
      ['pending', 1, null],
      ['retry', 1, 429],
      ['pending', 2, null],
      ['ok', 2, 200],
    ]);
  });

  test('a thrown RateLimitedError is a retry that honours its delay', async () => {
    await addConversions(wh, 2);
    const clock = new FakeClock();
    let calls = 0;
    const dest = testDestination({
      clock,
      respond: (records) => {
        if (calls++ === 0) throw new RateLimitedError('429 from vendor', 5000);
        return records.map(() => ({ status: 'ok' }) as Outcome);
      },
    });
    const result = await run(wh, conv(), dest, clock);
    expect(result.run.delivered).toBe(2);
    expect(clock.sleeps).toContain(5000);
  });

  test('retryable outcomes back off exponentially and give up after maxAttempts (planned again next run)', async () => {
    await addConversions(wh, 1);
    const clock = new FakeClock();
    const dest = testDestination({
      clock,
      respond: (rs) => rs.map(() => ({ status: 'retry', reason: 'HTTP 503', httpStatus: 503 })),
    });
    const result = await run(wh, conv({ maxAttempts: 4 }), dest, clock);
    expect(dest.calls).toHaveLength(4);
    expect(clock.sleeps).toEqual([100, 200, 400]); // base 100 ms, doubling, jitter pinned to its maximum
    expect(result.run).toMatchObject({ status: 'partial', failed: 1, delivered: 0 });
    const ok = testDestination({});
    expect((await run(wh, conv(), ok, clock)).run).toMatchObject({ planned: 1, delivered: 1 });
  });

  test('bisects a whole-batch rejection so only the bad row is rejected', async () => {
    await addConversions(wh, 8);
    const bad = 'c000005';
    const dest = testDestination({
      limits: { maxBatchSize: 8 },
      respond: (records) =>
        records.some((r) => r.key === bad)
          ? records.map(() => ({
              status: 'rejected',
              reason: 'Invalid parameter',
              httpStatus: 400,
              vendorCode: '100',
              wholeBatch: true,
            }))
          : records.map(() => ({ status: 'ok', httpStatus: 200 })),
    });
    const result = await run(wh, conv(), dest, new FakeClock());
    expect(result.run).toMatchObject({ delivered: 7, rejected: 1, status: 'partial' });
    expect(dest.calls.map((c) => c.records.length)).toEqual([8, 4, 4, 2, 1, 1, 2]); // depth first: the bad half is split until the row is alone
    const ledger = await ledgerRows(wh, 'conv');
    const final = ledger.filter((r) => ['ok', 'rejected'].includes(r.outcome as string));
    expect(final.filter((r) => r.outcome === 'rejected')).toEqual([
      expect.objectContaining({ key: bad, vendor_error: '100: Invalid parameter', http_status: 400 }),
    ]);
    expect(new Set(final.filter((r) => r.outcome === 'ok').map((r) => r.key)).size).toBe(7);
  });

  test('per-row rejections keep their neighbours and their reasons', async () => {
    await addConversions(wh, 3);
    const dest = testDestination({
      respond: (records) =>
        records.map((r) =>
          r.key === 'c000001'
            ? { status: 'rejected', reason: 'value must be positive', httpStatus: 400 }
            : { status: 'ok' },
        ),
    });
    await run(wh, conv(), dest, new FakeClock());
    const ledger = await ledgerRows(wh, 'conv');
    expect(ledger.filter((r) => r.outcome !== 'pending').map((r) => [r.key, r.outcome, r.vendor_error])).toEqual([
      ['c000000', 'ok', null],
      ['c000001', 'rejected', 'value must be positive'],
      ['c000002', 'ok', null],
    ]);
  });

  test('the ledger is written per request: an intent and an outcome row per batch, split only where outcomes differ', async () => {
    await addConversions(wh, 10);
    const dest = testDestination({
      limits: { maxBatchSize: 5 },
      respond: (records, call) =>
        records.map((r) =>
          r.key === 'c000007'
            ? { status: 'rejected', reason: 'value must be positive', httpStatus: 400 }
            : { status: 'ok', httpStatus: 200, requestId: `req-${call}` },
        ),
    });
    const result = await run(wh, conv(), dest, new FakeClock());
    expect(result.run).toMatchObject({ delivered: 9, rejected: 1, requests: 2 });
    const requests = await wh.query(
      `SELECT outcome, pos_from, pos_to, http_status, request_id FROM _tagpipe.delivery_requests WHERE sync = 'conv'
       ORDER BY pos_from, outcome <> 'pending'`,
    );
    expect(requests).toEqual([
      { outcome: 'pending', pos_from: 0, pos_to: 5, http_status: null, request_id: null },
      { outcome: 'ok', pos_from: 0, pos_to: 5, http_status: 200, request_id: 'req-0' },
      { outcome: 'pending', pos_from: 5, pos_to: 10, http_status: null, request_id: null },
      { outcome: 'ok', pos_from: 5, pos_to: 7, http_status: 200, request_id: 'req-1' },
      { outcome: 'rejected', pos_from: 7, pos_to: 8, http_status: 400, request_id: null },
      { outcome: 'ok', pos_from: 8, pos_to: 10, http_status: 200, request_id: 'req-1' },
    ]);
    // Per record, the view still answers with each record's own key, event id and consent basis.
    const ledger = await ledgerRows(wh, 'conv');
    expect(ledger).toHaveLength(20);
    expect(ledger.filter((r) => r.outcome !== 'pending').map((r) => `${String(r.key)}:${String(r.outcome)}`)).toEqual(
      Array.from({ length: 10 }, (_, i) => `c00000${i}:${i === 7 ? 'rejected' : 'ok'}`),
    );
    expect(ledger.find((r) => r.key === 'c000008' && r.outcome === 'ok')).toMatchObject({
      event_id: 'e000008',
      consent_basis: 'gcm:ads',
      request_id: 'req-1',
      attempts: 1,
    });
    expect(await wh.query(`SELECT count(*) AS n FROM _tagpipe.delivery_records`)).toEqual([{ n: 0 }]);
  });

  test('a key repeated in the source is sent once, and enters the snapshot once', async () => {
    await addMembers(wh, 'vip', 0, 3);
    await addMembers(wh, 'vip', 1, 2); // vip:p000001 twice
    const dest = testDestination({ limits: { maxBatchSize: 10 } });
    const sync = syncDef({ name: 'vip', mode: 'mirror', source: 'audience_members' });
    const result = await run(wh, sync, dest, new FakeClock());
    expect(result.run).toMatchObject({ planned: 3, delivered: 3 });
    expect(dest.calls.flatMap((c) => c.records.map((r) => r.key)).sort()).toEqual([
      'vip:p000000',
      'vip:p000001',
      'vip:p000002',
    ]);
    expect(
      await wh.query(`SELECT "key", count(*) AS n FROM _tagpipe.snapshots WHERE sync = 'vip' GROUP BY 1 ORDER BY 1`),
    ).toEqual([
      { key: 'vip:p000000', n: 1 },
      { key: 'vip:p000001', n: 1 },
      { key: 'vip:p000002', n: 1 },
    ]);
  });

  test('token bucket spaces requests at the documented rate', async () => {
    await addConversions(wh, 10);
    const clock = new FakeClock();
    const dest = testDestination({ clock, limits: { maxBatchSize: 1, requestsPerSecond: 2, maxConcurrency: 1 } });
    await run(wh, conv(), dest, clock);
    const gaps = dest.calls.slice(1).map((c, i) => c.at - dest.calls[i].at);
    // A burst of 2, then one request every 500 ms.
    expect(gaps.slice(2).every((g) => g >= 500)).toBe(true);
    expect(dest.calls[9].at - dest.calls[0].at).toBeGreaterThanOrEqual(4000 - 1);
  });

  test('dry run: the requests go to the outbox, and dry-run state never counts as delivery', async () => {
    await addMembers(wh, 'vip', 0, 3);
    const clock = new FakeClock();
    const dest = testDestination({
      limits: { maxBatchSize: 10 },
      respond: async (records) => {
        const response = await http({
          method: 'POST',
          url: 'https://graph.example.com/v1/aud/users?access_token=SECRET123',
          headers: { Authorization: 'Bearer SECRET123', 'content-type': 'application/json' },
          body: JSON.stringify({ add: records.map((r) => r.row.email_sha256) }),
        });
        return records.map(() => ({ status: response.status === 200 ? 'ok' : 'retry', reason: '' }) as Outcome);
      },
    });
    const http = createOutboxHttpClient({
      outboxDir: localPaths(dir).outbox,
      sync: 'vip',
      destination: dest.name,
      clock,
    });
    const sync = syncDef({ name: 'vip', mode: 'mirror', source: 'audience_members' });
    const result = await run(wh, sync, dest, clock, { dryRun: true, http });
    expect(result.run).toMatchObject({ dry_run: true, delivered: 3 });
    const outbox = readOutbox(localPaths(dir).outbox, 'vip');
    expect(outbox).toHaveLength(1);
    expect(outbox[0]).toMatchObject({
      sync: 'vip',
      method: 'POST',
      url: 'https://graph.example.com/v1/aud/users?access_token=***',
      headers: { authorization: '***', 'content-type': 'application/json' },
    });
    const members = await wh.query<{ e: string }>(
      'SELECT email_sha256 AS e FROM marts.audience_members ORDER BY member_key',
    );
    expect(JSON.parse(outbox[0].body as string)).toEqual({ add: members.map((m) => m.e) });
    expect(fs.readFileSync(path.join(localPaths(dir).outbox, 'vip.jsonl'), 'utf8')).not.toContain('SECRET123');
    // The real sync still has everything to send.
    const real = testDestination({ limits: { maxBatchSize: 10 } });
    expect((await run(wh, sync, real, clock)).run).toMatchObject({ planned: 3, delivered: 3, dry_run: false });
  });

  test('a destination lacking the capability the mode needs is a config error', async () => {
    const dest = testDestination({ capabilities: ['events'] });
    await expect(
      run(wh, syncDef({ name: 'vip', mode: 'mirror', source: 'audience_members' }), dest, new FakeClock()),
    ).rejects.toThrow(/mode mirror needs test-dest to support audience_add and audience_remove/);
  });
});
