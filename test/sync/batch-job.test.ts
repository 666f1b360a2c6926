/** The Cloud Run Job entry point: runs due syncs, exit code 0 when they ran, 1 when one could not. */
import fs from 'node:fs';
import path from 'node:path';
import { runBatchSync } from '../../functions/batch-sync';
import { silentLogger } from '../../src/core/logger';
import { openLocalWarehouse } from '../../src/warehouse/duckdb';
import { tempDir } from './helpers';

async function setup(syncs: string): Promise<{ dir: string; file: string }> {
  const dir = tempDir('tagpipe-job-');
  const wh = await openLocalWarehouse(path.join(dir, 'data'), { readOnly: false });
  await wh.exec(`CREATE SCHEMA marts; CREATE TABLE marts.conversions AS SELECT 'T' || i AS conversion_key, 'e' || i AS event_id,
    'purchase' AS event_name, 'purchase' AS conversion_type, now()::TIMESTAMP - INTERVAL 1 HOUR AS occurred_at, 10.0 AS value, 'EUR' AS currency,
    sha256('m' || i) AS email_sha256, '203.0.113.0' AS ip, 'Mozilla/5.0' AS user_agent, 'https://shop.example/' AS page_url,
    true AS consent_ads, 'gcm' AS consent_source FROM range(2) t(i)`);
  await wh.close();
  const file = path.join(dir, 'tagpipe.yaml');
  fs.writeFileSync(file, `dataDir: ${path.join(dir, 'data')}\nsyncs:\n${syncs}`);
  return { dir, file };
}

describe('batch-sync job', () => {
  test('runs the due syncs (dry-run without credentials) and exits 0; nothing is due right after', async () => {
    const { dir, file } = await setup(
      `  - { name: capi, source: conversions, destination: meta-capi, mode: append, cadence: "0 * * * *", config: { pixelId: "42" } }\n`,
    );
    expect(await runBatchSync({ TAGPIPE_CONFIG: file }, [], silentLogger)).toBe(0);
    const outbox = fs
      .readFileSync(path.join(dir, 'data', 'outbox', 'capi.jsonl'), 'utf8')
      .trim()
      .split('\n');
    expect(outbox).toHaveLength(1);
    expect((JSON.parse((JSON.parse(outbox[0]) as { body: string }).body) as { data: unknown[] }).data).toHaveLength(2);
    expect(await runBatchSync({ TAGPIPE_CONFIG: file }, [], silentLogger)).toBe(0);
    expect(
      fs
        .readFileSync(path.join(dir, 'data', 'outbox', 'capi.jsonl'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(1);
  }, 60_000);

  test('a sync that cannot run makes the job exit 1, and the others still run', async () => {
    const { dir, file } = await setup(
      `  - { name: broken, source: no_such_mart, key: k, destination: meta-capi, mode: append, config: { pixelId: "42" } }\n` +
        `  - { name: capi, source: conversions, destination: meta-capi, mode: append, config: { pixelId: "42" } }\n`,
    );
    expect(await runBatchSync({ TAGPIPE_CONFIG: file }, [], silentLogger)).toBe(1);
    expect(fs.existsSync(path.join(dir, 'data', 'outbox', 'capi.jsonl'))).toBe(true);
  }, 60_000);
});
