import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { openLocalWarehouse, toDuckDbParams } from '../../src/warehouse/duckdb';
import { localPaths } from '../../src/warehouse/types';

const DUCKDB = require.resolve('@duckdb/node-api');

function tempDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-wh-'));
}

/** Writes Parquet the way the lander does (DuckDB COPY), into raw/<table>/date=.../<file>.parquet. */
async function writeParquet(file: string, selectSql: string): Promise<void> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  await c.run(`COPY (${selectSql}) TO '${file}' (FORMAT parquet)`);
  c.closeSync();
  db.closeSync();
}

async function seedWarehouseFile(dataDir: string): Promise<void> {
  const db = await DuckDBInstance.create(localPaths(dataDir).warehouse);
  const c = await db.connect();
  await c.run(`CREATE SCHEMA marts; CREATE TABLE marts.users AS SELECT * FROM (VALUES
    ('p1', 9007199254740993::BIGINT, 42::BIGINT, TIMESTAMP '2026-01-02 03:04:05.678', DATE '2026-01-02', 12.5::DECIMAL(18,2)),
    ('p2', NULL, 7::BIGINT, NULL, NULL, NULL)) t(person_id, big, small, seen_at, day, ltv)`);
  c.closeSync();
  db.closeSync();
}

/** A separate process holding the warehouse file open read-write (as dbt does while models run). */
function holdLock(file: string, holdMs: number): Promise<ChildProcess> {
  const script = `const { DuckDBInstance } = require(${JSON.stringify(DUCKDB)});
    DuckDBInstance.create(${JSON.stringify(file)}).then(async (db) => { await db.connect(); process.stdout.write('ready\\n');
    setTimeout(() => { db.closeSync(); process.exit(0); }, ${holdMs}); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('ready')) resolve(child);
    });
    child.on('exit', (code) => reject(new Error(`lock holder exited early (${code})`)));
  });
}

describe('openLocalWarehouse', () => {
  test('raw views read every Parquet file under the glob, keep the raw contract columns, and are empty when none landed', async () => {
    const dir = tempDir();
    const wh0 = await openLocalWarehouse(dir, { readOnly: true });
    expect(await wh0.query('SELECT count(*) AS n FROM raw.events')).toEqual([{ n: 0 }]);
    await wh0.close();

    const raw = localPaths(dir).rawTable('events');
    const cols = (id: string, ts: string) =>
      `SELECT 'sub' AS subscription_name, '${id}' AS message_id, TIMESTAMP '${ts}' AS publish_time, '{"event_id":"${id}"}' AS data, '{}' AS attributes`;
    await writeParquet(path.join(raw, '_schema.parquet'), `${cols('x', '2026-01-01 00:00:00')} WHERE false`);
    await writeParquet(path.join(raw, 'date=2026-01-01', 'a.parquet'), cols('m1', '2026-01-01 10:00:00'));
    await writeParquet(path.join(raw, 'date=2026-01-02', 'b.parquet'), cols('m2', '2026-01-02 11:30:00'));
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    const rows = await wh.query('SELECT * FROM raw.events ORDER BY message_id');
    expect(rows).toEqual([
      {
        subscription_name: 'sub',
        message_id: 'm1',
        publish_time: '2026-01-01T10:00:00.000Z',
        data: '{"event_id":"m1"}',
        attributes: '{}',
      },
      {
        subscription_name: 'sub',
        message_id: 'm2',
        publish_time: '2026-01-02T11:30:00.000Z',
        data: '{"event_id":"m2"}',
        attributes: '{}',
      },
    ]);
    expect(await wh.query('SELECT count(*) AS n FROM raw.events_invalid')).toEqual([{ n: 0 }]);
    await wh.close();
  });

  test('marts resolve through the attached file; values are JSON-safe; @params work', async () => {
    const dir = tempDir();
    await seedWarehouseFile(dir);
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    const rows = await wh.query('SELECT * FROM marts.users WHERE small >= @min ORDER BY person_id', { min: 1 });
    expect(rows).toEqual([
      {
        person_id: 'p1',
        big: '9007199254740993',
        small: 42,
        seen_at: '2026-01-02T03:04:05.678Z',
        day: '2026-01-02',
        ltv: 12.5,
      },
      { person_id: 'p2', big: null, small: 7, seen_at: null, day: null, ltv: null },
    ]);
    expect(JSON.parse(JSON.stringify(rows))).toEqual(rows);
    await expect(wh.exec('CREATE TABLE marts.x (a INT)')).rejects.toThrow(/read-only/i);
    await wh.close();
  });

  test('raw, marts and _tagpipe all resolve as written once the warehouse file exists, in both modes', async () => {
    // As after the local stack's first models run: the file is attached, and the raw views must still be found.
    const dir = tempDir();
    await seedWarehouseFile(dir);
    const raw = localPaths(dir).rawTable('events');
    await writeParquet(
      path.join(raw, 'date=2026-01-01', 'a.parquet'),
      `SELECT 'sub' AS subscription_name, 'm1' AS message_id, TIMESTAMP '2026-01-01 10:00:00' AS publish_time, '{}' AS data, '{}' AS attributes`,
    );
    for (const readOnly of [true, false]) {
      const wh = await openLocalWarehouse(dir, { readOnly });
      if (!readOnly)
        await wh.exec('CREATE SCHEMA IF NOT EXISTS _tagpipe; CREATE OR REPLACE TABLE _tagpipe.t AS SELECT 1 AS k');
      expect(await wh.query('SELECT count(*) AS n FROM raw.events')).toEqual([{ n: 1 }]);
      expect(await wh.query('SELECT count(*) AS n FROM raw.events_invalid')).toEqual([{ n: 0 }]);
      expect(await wh.query('SELECT count(*) AS n FROM marts.users')).toEqual([{ n: 2 }]);
      if (!readOnly) expect(await wh.query('SELECT k FROM _tagpipe.t')).toEqual([{ k: 1 }]);
      await wh.close();
    }
  });

  test('read-write mode creates the file and _tagpipe tables land in it, readable after reopening', async () => {
    const dir = tempDir();
    const wh = await openLocalWarehouse(dir, { readOnly: false });
    await wh.exec('CREATE SCHEMA IF NOT EXISTS _tagpipe');
    await wh.exec('CREATE TABLE _tagpipe.t (k VARCHAR, n BIGINT, "at" TIMESTAMP, ok BOOLEAN, f DOUBLE)');
    await wh.insertRows(
      '_tagpipe',
      't',
      [
        { name: 'k', type: 'string' },
        { name: 'n', type: 'int' },
        { name: 'at', type: 'timestamp' },
        { name: 'ok', type: 'bool' },
        { name: 'f', type: 'float' },
      ],
      [
        ['a', 1, new Date('2026-03-01T00:00:00Z'), true, 1.5],
        ['b', null, null, false, null],
      ],
    );
    await wh.close();
    const ro = await openLocalWarehouse(dir, { readOnly: true });
    expect(await ro.query(`SELECT * FROM ${ro.table('_tagpipe', 't')} ORDER BY k`)).toEqual([
      { k: 'a', n: 1, at: '2026-03-01T00:00:00.000Z', ok: true, f: 1.5 },
      { k: 'b', n: null, at: null, ok: false, f: null },
    ]);
    await ro.close();
  });

  test('stream pages rows and the shared connection stays usable meanwhile', async () => {
    const dir = tempDir();
    const wh = await openLocalWarehouse(dir, { readOnly: false });
    const sizes: number[] = [];
    let total = 0;
    for await (const page of wh.stream<{ i: number }>(
      'SELECT range AS i FROM range(10000) ORDER BY i',
      undefined,
      3000,
    )) {
      sizes.push(page.length);
      expect(page[0].i).toBe(total);
      total += page.length;
      expect(await wh.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    }
    expect(sizes).toEqual([3000, 3000, 3000, 1000]);
    await wh.close();
  });

  test('waits for another process holding the file, then opens', async () => {
    const dir = tempDir();
    await seedWarehouseFile(dir);
    const holder = await holdLock(localPaths(dir).warehouse, 1500);
    const started = Date.now();
    const wh = await openLocalWarehouse(dir, { readOnly: true, lockTimeoutMs: 20_000 });
    expect(Date.now() - started).toBeGreaterThan(500);
    expect(await wh.query('SELECT count(*) AS n FROM marts.users')).toEqual([{ n: 2 }]);
    await wh.close();
    holder.kill();
  });

  test('gives up after the timeout with a message saying the models are running', async () => {
    const dir = tempDir();
    await seedWarehouseFile(dir);
    const holder = await holdLock(localPaths(dir).warehouse, 10_000);
    try {
      await expect(openLocalWarehouse(dir, { readOnly: true, lockTimeoutMs: 600 })).rejects.toThrow(
        /locked by another process \(the models are probably running/,
      );
    } finally {
      holder.kill();
    }
  });

  test('in one process, a writer excludes other opens of the file until it closes (OS locks are per process)', async () => {
    const dir = tempDir();
    const writer = await openLocalWarehouse(dir, { readOnly: false });
    await expect(openLocalWarehouse(dir, { readOnly: true, lockTimeoutMs: 300 })).rejects.toThrow(
      /in use by a sync or model run in this process/,
    );
    const waiting = openLocalWarehouse(dir, { readOnly: false, lockTimeoutMs: 10_000 });
    await writer.exec('CREATE TABLE t AS SELECT 1 AS a');
    await writer.close();
    const second = await waiting;
    expect(await second.query('SELECT a FROM t')).toEqual([{ a: 1 }]);
    await second.close();
    const r1 = await openLocalWarehouse(dir, { readOnly: true });
    const r2 = await openLocalWarehouse(dir, { readOnly: true, lockTimeoutMs: 300 }); // readers share
    await r1.close();
    await r2.close();
  });

  test('SQL errors surface with DuckDB message', async () => {
    const dir = tempDir();
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    await expect(wh.query('SELECT * FROM marts.nope')).rejects.toThrow(/nope/);
    await wh.close();
  });
});

describe('toDuckDbParams', () => {
  test('rewrites @name outside strings, identifiers and comments', () => {
    expect(toDuckDbParams(`SELECT @a, '@b', "x@c", e@d -- @e\nWHERE y = @f_1`)).toBe(
      `SELECT $a, '@b', "x@c", e@d -- @e\nWHERE y = $f_1`,
    );
  });
});
