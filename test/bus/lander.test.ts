/**
 * The lander against a real EmbeddedBus and real DuckDB: Parquet files read back through a separate DuckDB
 * instance with the raw table columns, restart and redelivery without loss or duplicates, compaction.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { EmbeddedBus } from '../../src/bus/embedded';
import { compactRaw, startLander, type Lander } from '../../src/warehouse/lander';
import { localPaths } from '../../src/warehouse/types';

const tmpDirs: string[] = [];
function tmpDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-lander-'));
  tmpDirs.push(dir);
  return dir;
}

let reader: DuckDBInstance;
let conn: DuckDBConnection;
beforeAll(async () => {
  reader = await DuckDBInstance.create(':memory:');
  conn = await reader.connect();
});
afterAll(() => {
  conn.closeSync();
  reader.closeSync();
  for (const d of tmpDirs) fs.rmSync(d, { recursive: true, force: true });
});

async function query(sql: string): Promise<Record<string, unknown>[]> {
  return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function event(i: number) {
  const body = { event_id: `evt-${i}`, type: 'track', event: 'Order Completed', properties: { total: i * 1.5 } };
  return { data: Buffer.from(JSON.stringify(body)), attributes: { event_id: `evt-${i}`, type: 'track' } };
}

/** Message ids are `<segment base>-<offset>`; order numerically, as the log does. */
const byPosition = "split_part(message_id, '-', 1)::BIGINT, split_part(message_id, '-', 2)::BIGINT";

const glob = (dir: string, table: 'events' | 'events_invalid') => `'${localPaths(dir).rawGlob(table)}'`;

function rangeFiles(dataDir: string, table: 'events' | 'events_invalid'): string[] {
  const root = localPaths(dataDir).rawTable(table);
  return fs
    .readdirSync(root)
    .filter((d) => d.startsWith('date='))
    .flatMap((d) =>
      fs
        .readdirSync(path.join(root, d))
        .filter((f) => /^\d{20}-\d{20}\.parquet$/.test(f))
        .map((f) => path.join(d, f)),
    );
}

test('landed Parquet has exactly the raw columns and values, readable by another DuckDB instance', async () => {
  const dataDir = tmpDir();
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
  const lander = await startLander({ bus, dataDir, batchSize: 100, maxWaitMs: 20 });
  // Empty tables already resolve with typed columns thanks to _schema.parquet.
  expect(await query(`SELECT count(*)::INT AS n FROM read_parquet(${glob(dataDir, 'events_invalid')})`)).toEqual([
    { n: 0 },
  ]);

  const published = await bus.publish('events', [event(1), event(2), event(3)]);
  const invalid = await bus.publish('events-invalid', [
    { data: Buffer.from('{"reason":"missing event_id","body":"{}"}'), attributes: { reason: 'missing event_id' } },
  ]);
  const notJson = await bus.publish('events-invalid', [{ data: Buffer.from('not json at all'), attributes: {} }]);
  // JSON.parse accepts a lone surrogate escape; DuckDB's JSON reader does not, so it must not reach a JSON column.
  const surrogate = await bus.publish('events-invalid', [
    { data: Buffer.from('{"name":"\\ud800"}'), attributes: { note: '\ud800' } },
  ]);
  let landedCalls = 0;
  lander.onLanded(() => (landedCalls += 1));
  await waitFor('6 landed rows', () => lander.stats().rows === 6);
  expect(landedCalls).toBeGreaterThan(0);

  const describe = await query(`DESCRIBE SELECT * FROM read_parquet(${glob(dataDir, 'events')})`);
  expect(describe.map((c) => [c.column_name, c.column_type])).toEqual([
    ['subscription_name', 'VARCHAR'],
    ['message_id', 'VARCHAR'],
    ['publish_time', 'TIMESTAMP WITH TIME ZONE'],
    ['data', 'JSON'],
    ['attributes', 'JSON'],
  ]);
  const rows = await query(
    `SELECT subscription_name, message_id, epoch_ms(publish_time) AS ms, data->>'event_id' AS event_id,
            (data->'properties'->>'total')::DOUBLE AS total, attributes->>'event_id' AS attr_id
     FROM read_parquet(${glob(dataDir, 'events')}) ORDER BY ${byPosition}`,
  );
  const delivered = await bus.log('events').read(0, 10);
  expect(rows).toEqual(
    delivered.messages.map((m, i) => ({
      subscription_name: 'lander-events',
      message_id: published.messageIds[i],
      ms: String(m.publishTime.getTime()),
      event_id: `evt-${i + 1}`,
      total: (i + 1) * 1.5,
      attr_id: `evt-${i + 1}`,
    })),
  );
  const day = delivered.messages[0].publishTime.toISOString().slice(0, 10);
  expect(rangeFiles(dataDir, 'events')[0]).toMatch(new RegExp(`^date=${day}/`));

  const inv = await query(
    `SELECT subscription_name, message_id, data::VARCHAR AS data, attributes::VARCHAR AS attributes
     FROM read_parquet(${glob(dataDir, 'events_invalid')}) ORDER BY ${byPosition}`,
  );
  expect(inv).toEqual([
    {
      subscription_name: 'lander-events-invalid',
      message_id: invalid.messageIds[0],
      data: '{"reason":"missing event_id","body":"{}"}',
      attributes: '{"reason":"missing event_id"}',
    },
    // Data that is not JSON is kept, as a JSON string, rather than blocking the table.
    {
      subscription_name: 'lander-events-invalid',
      message_id: notJson.messageIds[0],
      data: '"not json at all"',
      attributes: '{}',
    },
    {
      subscription_name: 'lander-events-invalid',
      message_id: surrogate.messageIds[0],
      data: JSON.stringify('{"name":"\\ud800"}'),
      attributes: JSON.stringify(JSON.stringify({ note: '\ud800' })),
    },
  ]);
  await lander.close();
  await bus.close();
});

async function landAll(lander: Lander, total: number): Promise<void> {
  await waitFor(`${total} rows in Parquet`, () => lander.stats().rows >= total);
}

test('restarting the lander mid-stream loses nothing and duplicates nothing', async () => {
  const dataDir = tmpDir();
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
  const ids: string[] = [];
  for (let k = 0; k < 10; k++)
    ids.push(
      ...(
        await bus.publish(
          'events',
          [0, 1, 2, 3, 4].map((i) => event(k * 5 + i)),
        )
      ).messageIds,
    );
  let lander = await startLander({ bus, dataDir, batchSize: 7, maxWaitMs: 5, compactAfterFiles: 0 });
  await waitFor('some rows', () => lander.stats().rows >= 14);
  await lander.close();
  for (let k = 10; k < 20; k++)
    ids.push(
      ...(
        await bus.publish(
          'events',
          [0, 1, 2, 3, 4].map((i) => event(k * 5 + i)),
        )
      ).messageIds,
    );
  const landed = (await query(`SELECT count(*)::INT AS n FROM read_parquet(${glob(dataDir, 'events')})`))[0]
    .n as number;
  expect(landed).toBeLessThan(100);
  lander = await startLander({ bus, dataDir, batchSize: 7, maxWaitMs: 5, compactAfterFiles: 0 });
  await landAll(lander, 100 - landed);
  await lander.close();
  const rows = await query(`SELECT message_id FROM read_parquet(${glob(dataDir, 'events')})`);
  expect(rows.map((r) => r.message_id).sort()).toEqual([...ids].sort());
  await bus.close();
});

test('a crash after the file rename but before the checkpoint rewrites nothing twice, even with other batch sizes', async () => {
  const dataDir = tmpDir();
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
  const ids: string[] = [];
  for (let k = 0; k < 6; k++)
    ids.push(
      ...(
        await bus.publish(
          'events',
          [0, 1, 2, 3, 4].map((i) => event(k * 5 + i)),
        )
      ).messageIds,
    );
  let lander = await startLander({ bus, dataDir, batchSize: 4, maxWaitMs: 5, compactAfterFiles: 0 });
  await landAll(lander, 30);
  await lander.close();
  const filesBefore = rangeFiles(dataDir, 'events');
  // The checkpoint goes back as if none of those checkpoints had been persisted.
  await bus.log('events').saveCheckpoint('lander-events', 0);
  await bus.publish('events', [event(30), event(31)]);
  lander = await startLander({ bus, dataDir, batchSize: 9, maxWaitMs: 5, compactAfterFiles: 0 });
  await waitFor(
    'the checkpoint to reach the end',
    () => bus.log('events').checkpoint('lander-events') === bus.log('events').end,
  );
  expect(lander.stats().skippedDuplicates).toBe(30);
  expect(lander.stats().rows).toBe(2);
  await lander.close();
  expect(rangeFiles(dataDir, 'events')).toHaveLength(filesBefore.length + 1);
  const rows = await query(
    `SELECT message_id, count(*)::INT AS n FROM read_parquet(${glob(dataDir, 'events')}) GROUP BY 1`,
  );
  expect(rows.every((r) => r.n === 1)).toBe(true);
  expect(rows.length).toBe(32);
  await bus.close();
});

test('compaction merges a day into one file with the same rows in log order; a leftover input is cleaned up', async () => {
  const dataDir = tmpDir();
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
  for (let k = 0; k < 5; k++)
    await bus.publish(
      'events',
      [0, 1, 2].map((i) => event(k * 3 + i)),
    );
  const lander = await startLander({ bus, dataDir, batchSize: 3, maxWaitMs: 1, compactAfterFiles: 0 });
  await landAll(lander, 15);
  await lander.close();
  const before = rangeFiles(dataDir, 'events');
  expect(before.length).toBeGreaterThanOrEqual(2);
  const order = `SELECT data->>'event_id' AS id FROM read_parquet(${glob(dataDir, 'events')})`;
  const rowsBefore = (await query(order)).map((r) => r.id);
  const date = before[0].slice(5, 15);
  const keep = path.join(localPaths(dataDir).rawTable('events'), before[0]);
  const copy = fs.readFileSync(keep);

  const result = await compactRaw(dataDir, 'events', date);
  expect(result.merged).toBe(before.length);
  expect(result.rows).toBe(15);
  const after = rangeFiles(dataDir, 'events');
  expect(after).toHaveLength(1);
  expect((await query(order)).map((r) => r.id)).toEqual(rowsBefore);

  // As if the process died between renaming the merged file in and deleting its inputs.
  fs.writeFileSync(keep, copy);
  expect((await query(`SELECT count(*)::INT AS n FROM read_parquet(${glob(dataDir, 'events')})`))[0].n).toBe(18);
  const again = await startLander({ bus, dataDir, maxWaitMs: 1 });
  expect(rangeFiles(dataDir, 'events')).toEqual(after);
  expect((await query(`SELECT count(*)::INT AS n FROM read_parquet(${glob(dataDir, 'events')})`))[0].n).toBe(15);
  // Landing continues after compaction without duplicating merged positions.
  await bus.publish('events', [event(99)]);
  await waitFor('one more row', () => again.stats().rows === 1);
  await again.close();
  expect(
    (
      await query(
        `SELECT count(DISTINCT message_id)::INT AS d, count(*)::INT AS n FROM read_parquet(${glob(dataDir, 'events')})`,
      )
    )[0],
  ).toEqual({ d: 16, n: 16 });
  await bus.close();
});

test('when a Parquet file cannot be written the batch is retried; once writable again every row lands once', async () => {
  const dataDir = tmpDir();
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus, retry: { initialMs: 10, maxMs: 50 } });
  const ids = (await bus.publish('events', [event(1), event(2), event(3)])).messageIds;
  // A plain file where the day's directory should be: mkdir fails, as on a full or broken disk.
  const day = (await bus.log('events').read(0, 1)).messages[0].publishTime.toISOString().slice(0, 10);
  const blocker = path.join(localPaths(dataDir).rawTable('events'), `date=${day}`);
  fs.mkdirSync(path.dirname(blocker), { recursive: true });
  fs.writeFileSync(blocker, 'not a directory');
  const lander = await startLander({ bus, dataDir, maxWaitMs: 1 });
  await new Promise((r) => setTimeout(r, 300));
  expect(lander.stats().rows).toBe(0);
  expect(bus.log('events').checkpoint('lander-events')).toBe(0);
  fs.rmSync(blocker);
  await waitFor('3 rows', () => lander.stats().rows === 3);
  await lander.close();
  const rows = await query(`SELECT message_id FROM read_parquet(${glob(dataDir, 'events')}) ORDER BY message_id`);
  expect(rows.map((r) => r.message_id)).toEqual([...ids].sort());
  await bus.close();
});

test('compaction leaves files at the target size alone and merges only the newest run of small files', async () => {
  const dataDir = tmpDir();
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
  let lander = await startLander({ bus, dataDir, batchSize: 2, maxWaitMs: 1, compactAfterFiles: 0 });
  for (let k = 0; k < 3; k++) await bus.publish('events', [event(k * 2), event(k * 2 + 1)]);
  await landAll(lander, 6);
  const date = rangeFiles(dataDir, 'events')[0].slice(5, 15);
  const big = await lander.compact('events', date);
  expect(big.merged).toBe(3);
  const bigSize = fs.statSync(
    path.join(localPaths(dataDir).rawTable('events'), `date=${date}`, big.file as string),
  ).size;
  await lander.close();

  lander = await startLander({ bus, dataDir, batchSize: 2, maxWaitMs: 1, compactAfterFiles: 0 });
  for (let k = 3; k < 6; k++) await bus.publish('events', [event(k * 2), event(k * 2 + 1)]);
  await landAll(lander, 6);
  await lander.close();
  expect(rangeFiles(dataDir, 'events')).toHaveLength(4);
  const second = await compactRaw(dataDir, 'events', date, { targetBytes: bigSize });
  expect(second.merged).toBe(3);
  const files = rangeFiles(dataDir, 'events').map((f) => path.basename(f));
  expect(files).toEqual([big.file, second.file].sort());
  const ids = await query(
    `SELECT data->>'event_id' AS id FROM read_parquet(${glob(dataDir, 'events')}) ORDER BY ${byPosition}`,
  );
  expect(ids.map((r) => r.id)).toEqual(Array.from({ length: 12 }, (_, i) => `evt-${i}`));
  await bus.close();
});
