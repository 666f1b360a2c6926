import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import { rowConsentBasis } from './executor';
import { ensureState, Ledger, ledgerViewSql, type RequestRow } from './ledger';
import { consentBasisSql, PLAN_ROW_SEPARATOR, planPageSql } from './planner';
import { dialectFor } from './sql';
import { BigQueryWarehouse } from '../warehouse/bigquery';
import { openLocalWarehouse, SYNC_MEMORY_LIMIT, type DuckDbWarehouse } from '../warehouse/duckdb';

/** A BigQuery warehouse whose client records each job's SQL and answers every query with `rows`. */
function recordingBigQuery(rows: (sql: string) => Record<string, unknown>[] = () => []) {
  const sqls: string[] = [];
  const client = {
    createQueryJob: (options: { query: string }) => {
      sqls.push(options.query);
      const job = {
        getQueryResults: () => Promise.resolve([rows(options.query), null, { jobComplete: true }]),
      };
      return Promise.resolve([job]);
    },
  } as unknown as BigQuery;
  return { wh: new BigQueryWarehouse(client, 'proj-1', 'EU'), sqls };
}

const request = (i: number, over: Partial<RequestRow> = {}): RequestRow => ({
  run_id: 'run-1',
  attempt_id: `run-1:${i}`,
  sync: 'vip',
  destination: 'meta-audiences',
  pos_from: i * 100,
  pos_to: i * 100 + 100,
  bucket_from: i,
  bucket_to: i,
  outcome: 'pending',
  http_status: null,
  vendor_error: null,
  attempts: 1,
  request_id: null,
  at: new Date('2026-03-01T00:00:00Z'),
  ...over,
});

/** Parses statements as BigQuery SQL with sqlglot (from the project's .venv). */
function parsesAsBigQuery(sqls: string[]): string {
  const python = path.join(__dirname, '..', '..', '.venv', 'bin', 'python');
  if (!fs.existsSync(python)) {
    throw new Error('sqlglot is needed to check BigQuery SQL: run ./run setup (installs .venv from requirements.txt)');
  }
  const script =
    'import json,sys,sqlglot\nfor s in json.load(sys.stdin): sqlglot.parse_one(s, read="bigquery")\nprint("ok")';
  return execFileSync(python, ['-c', script], { input: JSON.stringify(sqls) })
    .toString()
    .trim();
}

describe('ledger on BigQuery (SQL as sent)', () => {
  test('request writes that arrive while one is committing share one multi-row INSERT job', async () => {
    const { wh, sqls } = recordingBigQuery();
    const ledger = new Ledger(wh, dialectFor(wh), '_tagpipe');
    // The first write starts a job at once; the next three queue behind it and are committed together.
    await Promise.all([0, 1, 2, 3].map((i) => ledger.writeRequests([request(i)])));
    const inserts = sqls.filter((s) => s.startsWith('INSERT INTO `proj-1`.`_tagpipe`.`delivery_requests`'));
    expect(inserts).toHaveLength(2);
    expect(inserts[0].match(/'run-1:\d'/g)).toEqual(["'run-1:0'"]);
    expect(inserts[1].match(/'run-1:\d'/g)).toEqual(["'run-1:1'", "'run-1:2'", "'run-1:3'"]);
    expect(inserts[1]).toContain(
      "('run-1', 'run-1:3', 'vip', 'meta-audiences', 300, 400, 3, 3, 'pending', NULL, NULL, 1, NULL, TIMESTAMP '2026-03-01T00:00:00.000Z')",
    );
  });

  test('the state DDL moves an old ledger table aside, creates the view, and every statement parses', async () => {
    const { wh, sqls } = recordingBigQuery((sql) =>
      sql.includes('INFORMATION_SCHEMA.TABLES') ? [{ table_name: 'delivery_ledger', table_type: 'BASE TABLE' }] : [],
    );
    const d = dialectFor(wh);
    await ensureState(wh, d, '_tagpipe');
    const ledger = new Ledger(wh, d, '_tagpipe');
    await ledger.recordPlan(
      'run-1',
      10_000,
      'SELECT _tp_pos AS pos, _tp_key AS `key`, NULL AS event_id, NULL AS action, NULL AS row_hash, NULL AS consent_basis FROM `proj-1`.`_tagpipe`.`plan_vip`',
    );
    await ledger.unresolvedRequests('vip');
    expect(sqls).toContain('ALTER TABLE `proj-1`.`_tagpipe`.`delivery_ledger` RENAME TO `delivery_records`');
    const view = sqls.find((s) => s.startsWith('CREATE VIEW IF NOT EXISTS `proj-1`.`_tagpipe`.`delivery_ledger`'));
    expect(view).toContain('CROSS JOIN UNNEST(GENERATE_ARRAY(q.bucket_from, q.bucket_to)) AS _tp_bucket');
    expect(view).toContain('p.bucket = r._tp_bucket AND p.pos >= r.pos_from AND p.pos < r.pos_to');
    expect(sqls.find((s) => s.startsWith('INSERT INTO `proj-1`.`_tagpipe`.`delivery_plan`'))).toContain(
      "SELECT 'run-1', x.pos, DIV(x.pos, 10000)",
    );
    expect(parsesAsBigQuery(sqls)).toBe('ok');
  });
});

describe('ledger on DuckDB', () => {
  let dir: string;
  let wh: DuckDbWarehouse;
  beforeEach(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-ledger-'));
    wh = await openLocalWarehouse(dir, { readOnly: false });
  });
  afterEach(async () => {
    await wh.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('a ledger table from before the view keeps its rows as delivery_records, and the view answers them', async () => {
    await wh.exec('CREATE SCHEMA _tagpipe');
    await wh.exec(`CREATE TABLE _tagpipe.delivery_ledger (run_id VARCHAR, attempt_id VARCHAR, sync VARCHAR, destination VARCHAR,
      "key" VARCHAR, event_id VARCHAR, action VARCHAR, row_hash VARCHAR, outcome VARCHAR, http_status BIGINT, vendor_error VARCHAR,
      attempts BIGINT, consent_basis VARCHAR, request_id VARCHAR, "at" TIMESTAMP)`);
    await wh.exec(`INSERT INTO _tagpipe.delivery_ledger VALUES
      ('r0', 'r0:1', 'conv', 'meta-capi', 'k1', 'e1', 'send', 'h1', 'pending', NULL, NULL, 1, 'gcm:ads', NULL, TIMESTAMP '2026-01-01 00:00:00'),
      ('r0', 'r0:1', 'conv', 'meta-capi', 'k1', 'e1', 'send', 'h1', 'ok', 200, NULL, 1, 'gcm:ads', 'fbtrace-1', TIMESTAMP '2026-01-01 00:00:01')`);
    await ensureState(wh, dialectFor(wh), '_tagpipe');
    await ensureState(wh, dialectFor(wh), '_tagpipe'); // idempotent
    const types = await wh.query(
      `SELECT table_name, table_type FROM information_schema.tables WHERE table_schema = '_tagpipe' AND table_name LIKE 'delivery_%' ORDER BY 1`,
    );
    expect(types).toEqual([
      { table_name: 'delivery_ledger', table_type: 'VIEW' },
      { table_name: 'delivery_plan', table_type: 'BASE TABLE' },
      { table_name: 'delivery_records', table_type: 'BASE TABLE' },
      { table_name: 'delivery_requests', table_type: 'BASE TABLE' },
    ]);
    expect(
      await wh.query(`SELECT "key", outcome, http_status, request_id FROM _tagpipe.delivery_ledger ORDER BY "at"`),
    ).toEqual([
      { key: 'k1', outcome: 'pending', http_status: null, request_id: null },
      { key: 'k1', outcome: 'ok', http_status: 200, request_id: 'fbtrace-1' },
    ]);
  });

  test('the view expands each request row to the records at its plan positions, across bucket edges', async () => {
    const d = dialectFor(wh);
    await ensureState(wh, d, '_tagpipe');
    const ledger = new Ledger(wh, d, '_tagpipe');
    await wh.exec(
      `CREATE TABLE _tagpipe.plan_t AS SELECT 'k' || CAST(i AS VARCHAR) AS _tp_key, 'e' || CAST(i AS VARCHAR) AS ev FROM range(10) t(i)`,
    );
    await ledger.recordPlan(
      'run-1',
      4,
      `SELECT rowid AS pos, _tp_key AS "key", ev AS event_id, 'send' AS action, 'h' AS row_hash, 'gcm:ads' AS consent_basis FROM _tagpipe.plan_t`,
    );
    // Positions 3..8 span buckets 0, 1 and 2 (width 4); one record (5) was rejected on its own.
    await ledger.writeRequests([
      request(0, { pos_from: 3, pos_to: 5, bucket_from: 0, bucket_to: 1, outcome: 'ok', http_status: 200 }),
      request(0, {
        pos_from: 5,
        pos_to: 6,
        bucket_from: 1,
        bucket_to: 1,
        outcome: 'rejected',
        http_status: 400,
        vendor_error: 'bad value',
      }),
      request(0, { pos_from: 6, pos_to: 9, bucket_from: 1, bucket_to: 2, outcome: 'ok', http_status: 200 }),
    ]);
    const rows = await wh.query<{ key: string; event_id: string; outcome: string; vendor_error: string | null }>(
      `SELECT "key", event_id, outcome, vendor_error FROM _tagpipe.delivery_ledger WHERE run_id = 'run-1' ORDER BY event_id`,
    );
    expect(rows.map((r) => `${r.key}:${r.outcome}`)).toEqual([
      'k3:ok',
      'k4:ok',
      'k5:rejected',
      'k6:ok',
      'k7:ok',
      'k8:ok',
    ]);
    expect(rows.find((r) => r.key === 'k5')).toMatchObject({ event_id: 'e5', vendor_error: 'bad value' });
  });

  test('the consent basis computed in SQL is the one rowConsentBasis computes, from columns and from JSON', async () => {
    const d = dialectFor(wh);
    const rows: Record<string, unknown>[] = [
      { consent_source: 'gcm', consent_ads: true, consent_ad_user_data: true, consent_analytics: false },
      { consent_source: 'tcf', consent_ads: false, consent_ad_user_data: true, consent_analytics: true },
      { consent_source: 'bogus', consent_ads: true, consent_ad_user_data: false, consent_analytics: null },
      { consent_source: null, consent_ads: null, consent_ad_user_data: null, consent_analytics: null },
    ];
    const purposes = ['analytics', 'ads', 'ad_user_data'] as const;
    const columns = ['consent_source', 'consent_ads', 'consent_ad_user_data', 'consent_analytics'];
    const fromColumns = consentBasisSql(d, [...purposes], {
      has: (m) => (columns.includes(m) ? 'TRUE' : 'FALSE'),
      text: (m) => (columns.includes(m) ? `CAST(s.${d.col(m)} AS VARCHAR)` : 'NULL'),
    });
    const fromJson = consentBasisSql(d, [...purposes], {
      has: (m) => d.jsonHas('s.j', m),
      text: (m) => d.jsonText('s.j', m),
    });
    const values = rows
      .map(
        (r, i) =>
          `(${i}, ${r.consent_source === null ? 'NULL' : `'${String(r.consent_source)}'`}, ${String(r.consent_ads)}, ${String(r.consent_ad_user_data)}, ${String(r.consent_analytics)}, '${JSON.stringify(r)}')`,
      )
      .join(', ');
    const got = await wh.query<{ a: string | null; b: string | null }>(
      `SELECT ${fromColumns} AS a, ${fromJson} AS b FROM (VALUES ${values}) s(i, consent_source, consent_ads, consent_ad_user_data, consent_analytics, j) ORDER BY i`,
    );
    const expected = rows.map((r) => rowConsentBasis(r, [...purposes]));
    expect(expected).toEqual(['gcm:ads+ad_user_data', 'tcf:analytics+ad_user_data', 'default:ads', 'default:none']);
    expect(got.map((g) => g.a)).toEqual(expected);
    expect(got.map((g) => g.b)).toEqual(expected);
    // A payload without consent members has no basis, as in TypeScript.
    const [none] = await wh.query<{ b: string | null }>(
      `SELECT ${consentBasisSql(d, [...purposes], { has: (m) => d.jsonHas(`'{"x":1}'`, m), text: (m) => d.jsonText(`'{"x":1}'`, m) })} AS b`,
    );
    expect(none.b).toBe(rowConsentBasis({ x: 1 }, [...purposes]));
  });

  test('a plan page arrives as one text that splits back into its rows, control characters in values included', async () => {
    await wh.exec('CREATE SCHEMA _tagpipe');
    await wh.exec(`CREATE TABLE _tagpipe.plan_p AS SELECT 'add' AS _tp_action, md5(CAST(i AS VARCHAR)) AS _tp_hash,
      CAST(to_json({'_tp_key': 'k' || CAST(i AS VARCHAR), 'note': 'a' || chr(30) || 'b' || chr(10)}) AS VARCHAR) AS _tp_payload FROM range(5) t(i)`);
    const [page] = await wh.query<{ r: string }>(planPageSql({ planTable: '_tagpipe.plan_p' }, 1, 4));
    const rows = page.r.split(PLAN_ROW_SEPARATOR);
    expect(rows).toHaveLength(3);
    expect(rows.map((r) => JSON.parse(r.slice(r.indexOf('|', 4) + 1)) as Record<string, string>)).toEqual(
      [1, 2, 3].map((i) => ({ _tp_key: `k${i}`, note: 'a\x1eb\n' })),
    );
    expect(await wh.query(planPageSql({ planTable: '_tagpipe.plan_p' }, 5, 10))).toEqual([{ r: null }]);
  });

  test('a read-write open (a sync run) bounds DuckDB: memory limit, one thread, no insertion order', async () => {
    expect(SYNC_MEMORY_LIMIT).toBe('64MB');
    const settings = await wh.query<{ name: string; value: string }>(
      `SELECT name, value FROM duckdb_settings() WHERE name IN ('memory_limit', 'threads', 'preserve_insertion_order', 'allocator_background_threads') ORDER BY name`,
    );
    expect(Object.fromEntries(settings.map((s) => [s.name, s.value]))).toEqual({
      allocator_background_threads: 'true',
      memory_limit: '61.0 MiB', // SYNC_MEMORY_LIMIT, 64 MB = 61.0 MiB
      preserve_insertion_order: 'false',
      threads: '1',
    });
  });
});

test('ledgerViewSql reads per-record rows and request ranges with the ledger columns in order', () => {
  const { wh } = recordingBigQuery();
  const sql = ledgerViewSql(dialectFor(wh), '_tagpipe');
  expect(sql.split('UNION ALL')).toHaveLength(2);
  expect(sql).toContain('FROM `proj-1`.`_tagpipe`.`delivery_records`');
  expect(sql).toContain('p.`key`, p.`event_id`, p.`action`, p.`row_hash`, r.`outcome`');
});
