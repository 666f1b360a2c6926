/**
 * The CLI end to end, as an operator runs it: `tagpipe sync plan|run|status|outbox` and `tagpipe warehouse query`
 * against a real DuckDB warehouse, with the real meta-capi and meta-audiences destinations in dry-run (no
 * credentials in the config), so the outbox holds the exact Graph API requests.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openLocalWarehouse } from '../../src/warehouse/duckdb';
import { tempDir } from './helpers';

const BIN = path.join(__dirname, '..', '..', 'bin', 'tagpipe.js');

function tagpipe(cwd: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd, timeout: 90_000, env: { ...process.env, TAGPIPE_LOG_LEVEL: 'warn' } },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

let dir: string;

beforeAll(async () => {
  dir = tempDir('tagpipe-cli-');
  const wh = await openLocalWarehouse(path.join(dir, 'data'), { readOnly: false });
  const consent =
    'true AS consent_analytics, true AS consent_ads, true AS consent_ad_user_data, true AS consent_ad_personalization';
  await wh.exec('CREATE SCHEMA marts');
  await wh.exec(`CREATE TABLE marts.conversions AS SELECT 'T' || i AS conversion_key, 'e' || i AS event_id, 'purchase' AS event_name,
    'purchase' AS conversion_type, now()::TIMESTAMP - INTERVAL 2 HOUR AS occurred_at, 'T' || i AS transaction_id, 20.0 + i AS value, 'EUR' AS currency,
    'a' || i AS anonymous_id, sha256('m' || i) AS email_sha256, 'https://shop.example/thanks' AS page_url,
    '203.0.113.0' AS ip, 'Mozilla/5.0 (X11; Linux x86_64)' AS user_agent, ${consent}, 'gcm' AS consent_source FROM range(3) t(i)`);
  await wh.exec(`CREATE TABLE marts.audience_members AS SELECT 'vip:p' || i AS member_key, 'vip' AS audience_id, 'p' || i AS person_id,
    sha256('m' || i) AS email_sha256, NULL::VARCHAR AS phone_sha256, ${consent}, 'explicit' AS consent_source FROM range(4) t(i)`);
  await wh.close();
  fs.writeFileSync(
    path.join(dir, 'tagpipe.yaml'),
    `dataDir: data
syncs:
  - name: meta_purchases
    source: conversions
    destination: meta-capi
    mode: append
    config: { pixelId: "123456789" }
  - name: vip
    source: audience_members
    destination: meta-audiences
    mode: mirror
    maxDeletePercent: 25
    config: { audiences: { vip: "2385000000000" } }
`,
  );
}, 60_000);

describe('tagpipe sync and warehouse commands', () => {
  test('plan shows counts and samples; run writes the exact requests to the outbox; a second run has nothing to do', async () => {
    const plan = await tagpipe(dir, 'sync', 'plan', 'meta_purchases');
    expect(plan.code).toBe(0);
    expect(plan.stdout).toContain('sync meta_purchases (append): 3 to send');
    expect(plan.stdout).toMatch(/send\s+T0\s+\{"conversion_key":"T0"/);
    expect(plan.stdout).toContain('credentials absent (accessToken)');

    const run = await tagpipe(dir, 'sync', 'run', 'meta_purchases');
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('meta_purchases: ok, planned 3, sent 3');
    const outbox = fs
      .readFileSync(path.join(dir, 'data', 'outbox', 'meta_purchases.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(outbox).toHaveLength(1);
    const request = JSON.parse(outbox[0]) as { method: string; url: string; body: string };
    expect(request.method).toBe('POST');
    expect(request.url).toMatch(/^https:\/\/graph\.facebook\.com\/v\d+\.\d+\/123456789\/events/);
    const body = JSON.parse(request.body) as {
      data: { event_id: string; event_name: string; custom_data: { value: number } }[];
    };
    expect(body.data.map((e) => [e.event_id, e.event_name, e.custom_data.value])).toEqual([
      ['e0', 'Purchase', 20],
      ['e1', 'Purchase', 21],
      ['e2', 'Purchase', 22],
    ]);
    const shown = await tagpipe(dir, 'sync', 'outbox', 'meta_purchases');
    expect(shown.stdout).toContain('"event_id": "e1"');

    const again = await tagpipe(dir, 'sync', 'run', 'meta_purchases');
    expect(again.stdout).toContain('planned 0');
  }, 120_000);

  test('a mirror removing more than maxDeletePercent is refused with exit 3, and --force runs it', async () => {
    expect((await tagpipe(dir, 'sync', 'run', 'vip')).stdout).toContain('vip: ok, planned 4, sent 4');
    const wh = await openLocalWarehouse(path.join(dir, 'data'), { readOnly: false });
    await wh.exec(`DELETE FROM marts.audience_members WHERE person_id IN ('p0', 'p1')`);
    await wh.close();
    const refused = await tagpipe(dir, 'sync', 'run', 'vip');
    expect(refused.code).toBe(3);
    expect(refused.stdout).toContain('REFUSED: sync vip would remove 2 of 4 audience members (50.0%)');
    const forced = await tagpipe(dir, 'sync', 'run', 'vip', '--force');
    expect(forced.code).toBe(0);
    expect(forced.stdout).toContain('vip: ok, planned 2, sent 2');
    const requests = fs
      .readFileSync(path.join(dir, 'data', 'outbox', 'vip.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { method: string });
    expect(requests.map((r) => r.method)).toEqual(['POST', 'DELETE']);
  }, 120_000);

  test('status lists runs; warehouse query prints a table, JSON lines, and a clear error for bad SQL', async () => {
    const status = await tagpipe(dir, 'sync', 'status');
    expect(status.stdout).toMatch(/vip\s+ok/);
    expect(status.stdout).toMatch(/vip\s+refused/);
    const table = await tagpipe(
      dir,
      'warehouse',
      'query',
      "select outcome, count(*) as n from _tagpipe.delivery_ledger where sync = 'meta_purchases__dry_run' group by 1 order by 1",
    );
    // Meta CAPI deduplicates on event_id: its requests are sent with no pending intent, only their outcome.
    expect(table.stdout).toBe('outcome  n\n-------  -\nok       3\n(1 row)\n');
    const json = await tagpipe(
      dir,
      'warehouse',
      'query',
      '--json',
      'select member_key from marts.audience_members order by 1',
    );
    expect(
      json.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as unknown),
    ).toEqual([{ member_key: 'vip:p2' }, { member_key: 'vip:p3' }]);
    // Raw tables resolve as written also with the warehouse file attached (as once the stack's models have run).
    const raw = await tagpipe(dir, 'warehouse', 'query', '--json', 'select count(*) as n from raw.events');
    expect(raw.stderr).toBe('');
    expect(JSON.parse(raw.stdout.trim())).toEqual({ n: expect.any(Number) });
    const bad = await tagpipe(dir, 'warehouse', 'query', 'select nope from marts.users');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/tagpipe: query failed: .*users/);
  }, 120_000);
});
