/**
 * `tagpipe sync status` as users run it (a child process) on a real DuckDB warehouse written by real sync runs
 * against the Data Manager fake: per run, what its request status check recorded; `--requests`, each request's
 * latest status; `--json` for both; a sync name narrows the list.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import googleAds, { configSchema } from '../../destinations/google-ads';
import { createHttpClient } from '../../src/core/http';
import { silentLogger } from '../../src/core/logger';
import { parseSync } from '../../src/sync/config';
import { runSync } from '../../src/sync/executor';
import { openLocalWarehouse } from '../../src/warehouse/duckdb';
import { startFakeDataManager } from '../fakes';
import { FakeClock, tempDir } from '../sync/helpers';

const BIN = path.resolve(__dirname, '..', '..', 'bin', 'tagpipe.js');

function tagpipe(args: string[]) {
  const r = spawnSync(process.execPath, [BIN, ...args], { cwd: tempDir(), encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

const dataDir = tempDir();

beforeAll(async () => {
  // Two runs of one sync: the first looks once (both requests still PROCESSING), the second settles them and its
  // own request; Google drops the conversion with an unknown click id.
  const clock = new FakeClock();
  const fake = await startFakeDataManager({ now: () => clock.now(), invalidGclids: ['gclid-4'] });
  const wh = await openLocalWarehouse(dataDir, { readOnly: false });
  try {
    await wh.exec('CREATE SCHEMA marts');
    await wh.exec(`CREATE TABLE marts.conversions (conversion_key VARCHAR, transaction_id VARCHAR,
      occurred_at TIMESTAMP, gclid VARCHAR, value DOUBLE, currency VARCHAR, consent_analytics BOOLEAN,
      consent_ads BOOLEAN, consent_ad_user_data BOOLEAN, consent_ad_personalization BOOLEAN, consent_source VARCHAR)`);
    const add = (from: number, to: number) =>
      wh.exec(`INSERT INTO marts.conversions SELECT 'c' || i, 'T-' || i, TIMESTAMP '2026-03-10 11:00:00',
        'gclid-' || i, i, 'EUR', true, true, true, true, 'gcm' FROM range(${from}, ${to}) t(i)`);
    const runOnce = (extra: Record<string, unknown>) =>
      runSync(parseSync({ name: 'conv_ads', destination: 'google-ads', mode: 'append', source: 'conversions' }), {
        warehouse: wh,
        destination: googleAds as never,
        destinationConfig: configSchema.parse({
          accessToken: 'test-token',
          endpoint: fake.url,
          operatingAccountId: '123',
          conversionActionId: '555',
          batchSize: 3,
          ...extra,
        }),
        http: createHttpClient({ timeoutMs: 5000, userAgent: 't' }),
        logger: silentLogger,
        clock,
      });
    await add(0, 5);
    expect((await runOnce({ verifyTimeoutMs: 0 })).verification?.map((v) => v.status)).toEqual(['pending', 'pending']);
    await clock.sleep(3600_000);
    await add(5, 7);
    expect((await runOnce({})).run.status).toBe('partial');
  } finally {
    await wh.close();
    await fake.close();
  }
}, 60_000);

test('lists runs newest first with what each run verified', () => {
  const r = tagpipe(['sync', 'status', '--data-dir', dataDir]);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  const lines = r.out.trim().split('\n');
  expect(lines[0]).toMatch(/^sync\s+status\s+dry_run\s+started_at\s+.*requests\s+verified\s+error$/);
  expect(lines[2]).toMatch(
    /^conv_ads\s+partial\s+false\s+.*\s3 checked: 2 success, 1 partial; 1 failed records\s+google-ads reported failed records in 1 of 3 requests/,
  );
  expect(lines[3]).toMatch(/^conv_ads\s+ok\s+false\s+.*\s2 checked: 2 pending\s+NULL$/);
  expect(lines[4]).toBe('(2 rows)');
});

test('--json gives one object per run with the verification counts and reasons', () => {
  const runs = jsonLines(tagpipe(['sync', 'status', '--data-dir', dataDir, '--json']).out);
  expect(runs.map((r) => [r.status, r.planned, r.delivered, r.requests, r.verification])).toEqual([
    [
      'partial',
      2,
      2,
      1,
      {
        checked: 3,
        success: 2,
        partial: 1,
        failure: 0,
        pending: 0,
        unknown: 0,
        failed_records: 1,
        reasons: 'PROCESSING_ERROR_REASON_INVALID_GCLID x1',
      },
    ],
    [
      'ok',
      5,
      5,
      2,
      {
        checked: 2,
        success: 0,
        partial: 0,
        failure: 0,
        pending: 2,
        unknown: 0,
        failed_records: 0,
        reasons: null,
      },
    ],
  ]);
  expect(typeof runs[0].run_id).toBe('string');
  expect(runs[0].run_id).not.toBe(runs[1].run_id);
});

test('--requests lists each request with its final status, --status narrows it', () => {
  const requests = jsonLines(tagpipe(['sync', 'status', '--data-dir', dataDir, '--requests', '--json']).out);
  expect(requests.map(({ first_checked_at: _f, checked_at: _c, ...r }) => r)).toEqual([
    {
      sync: 'conv_ads',
      request_id: 'req-1',
      status: 'success',
      records: 3,
      failed_records: null,
      errors: null,
      checks: 2,
    },
    {
      sync: 'conv_ads',
      request_id: 'req-2',
      status: 'partial',
      records: 2,
      failed_records: 1,
      errors: 'PROCESSING_ERROR_REASON_INVALID_GCLID x1',
      checks: 2,
    },
    {
      sync: 'conv_ads',
      request_id: 'req-3',
      status: 'success',
      records: 2,
      failed_records: null,
      errors: null,
      checks: 1,
    },
  ]);
  // Checked first by the first run, settled by the second an hour (and its status backoff) later.
  const settledAfter = Date.parse(String(requests[1].checked_at)) - Date.parse(String(requests[1].first_checked_at));
  expect(settledAfter).toBeGreaterThanOrEqual(3600_000);
  expect(settledAfter).toBeLessThan(3660_000);

  const table = tagpipe(['sync', 'status', '--data-dir', dataDir, '--requests', '--status', 'partial,failure']);
  expect(table.out).toMatch(
    /^sync\s+request_id\s+status\s+records\s+failed_records\s+errors\s+checks\s+first_checked_at\s+checked_at\n/,
  );
  expect(table.out).toMatch(/\nconv_ads\s+req-2\s+partial\s+2\s+1\s+PROCESSING_ERROR_REASON_INVALID_GCLID x1\s+2\s/);
  expect(table.out).toContain('(1 row)');
});

test('a sync name narrows the list; an unknown one has nothing', () => {
  expect(jsonLines(tagpipe(['sync', 'status', 'conv_ads', '--data-dir', dataDir, '--json']).out)).toHaveLength(2);
  expect(tagpipe(['sync', 'status', 'other', '--data-dir', dataDir]).out).toBe('no sync has run yet\n');
  expect(tagpipe(['sync', 'status', 'other', '--data-dir', dataDir, '--requests']).out).toBe(
    'no request status recorded yet\n',
  );
});
