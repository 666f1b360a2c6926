import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { startFakeBigQuery, type FakeBigQuery, type FakeResult } from './bigquery-fake';

const ROOT = path.join(__dirname, '..', '..');

/** What the fake answers, by SQL: one script drives every scenario against it. */
function answer(sql: string): FakeResult {
  if (sql.startsWith('SELECT * FROM `proj-1`.`marts`.`users`')) {
    return {
      fields: [
        { name: 'id', type: 'STRING' },
        { name: 'n', type: 'INT64' },
        { name: 'big', type: 'INT64' },
        { name: 'at', type: 'TIMESTAMP' },
        { name: 'ok', type: 'BOOL' },
      ],
      rows: [['a', 42, '9007199254740993', '2026-03-01T10:00:00.000Z', true]],
    };
  }
  if (sql === 'SELECT i FROM paged')
    return { fields: [{ name: 'i', type: 'INT64' }], rows: Array.from({ length: 7 }, (_, i) => [i]) };
  if (sql === 'SELECT nope') return { error: 'Unrecognized name: nope at [1:8]' };
  if (sql.includes('INFORMATION_SCHEMA.COLUMNS')) {
    const cols = ['member_key', 'audience_id', 'email_sha256', 'consent_ads', 'consent_source'];
    return { fields: [{ name: 'column_name', type: 'STRING' }], rows: cols.map((c) => [c]) };
  }
  if (sql.includes('COUNT(*) AS n')) return { fields: [{ name: 'n', type: 'INT64' }], rows: [[0]] };
  return {};
}

let fake: FakeBigQuery;
let out: Record<string, unknown>;

beforeAll(async () => {
  fake = await startFakeBigQuery(answer);
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['-r', require.resolve('tsx/cjs'), path.join(__dirname, 'bigquery-client.ts'), fake.url],
      { cwd: ROOT, env: { ...process.env, GOOGLE_CLOUD_PROJECT: '' }, timeout: 60_000 },
      (error, so, se) => (error ? reject(new Error(`${error.message}\n${se}`)) : resolve(so)),
    );
  });
  out = JSON.parse(stdout) as Record<string, unknown>;
}, 90_000);
afterAll(async () => {
  await fake.close();
});

const posts = () => fake.calls.filter((c) => c.method === 'POST');
const sqlOf = (c: { body: Record<string, unknown> | null }) =>
  (c.body?.configuration as { query: { query: string } }).query.query;

describe('BigQuery warehouse at its HTTP boundary', () => {
  test('query: a query job with named parameters in the location; values made JSON-safe', () => {
    expect(out.query).toEqual([{ id: 'a', n: 42, big: '9007199254740993', at: '2026-03-01T10:00:00.000Z', ok: true }]);
    const insert = posts()[0];
    expect(insert.path).toBe('/bigquery/v2/projects/proj-1/jobs');
    const config = (insert.body?.configuration as { query: Record<string, unknown> }).query;
    expect(config).toMatchObject({ useLegacySql: false, parameterMode: 'named' }); // as the official client sends it
    expect(config.queryParameters).toEqual([
      { name: 'sync', parameterType: { type: 'STRING' }, parameterValue: { value: 'vip' } },
      { name: 'min', parameterType: { type: 'INT64' }, parameterValue: { value: 3 } },
      { name: 'nothing', parameterType: { type: 'STRING' }, parameterValue: { value: null } },
    ]);
    expect((insert.body?.jobReference as { location: string }).location).toBe('EU');
    const jobId = (insert.body?.jobReference as { jobId: string }).jobId;
    const get = fake.calls.find((c) => c.method === 'GET' && c.path.endsWith(`/queries/${jobId}`));
    expect(get?.query).toMatchObject({ location: 'EU', 'formatOptions.useInt64Timestamp': 'true' });
  });

  test('stream: pages with maxResults and pageToken, one page at a time', () => {
    expect(out.pages).toEqual([[{ i: 0 }, { i: 1 }, { i: 2 }], [{ i: 3 }, { i: 4 }, { i: 5 }], [{ i: 6 }]]);
    const job = posts().find((c) => sqlOf(c) === 'SELECT i FROM paged');
    const jobId = (job?.body?.jobReference as { jobId: string }).jobId;
    const gets = fake.calls.filter((c) => c.method === 'GET' && c.path.endsWith(`/queries/${jobId}`));
    expect(gets.map((g) => [g.query.maxResults, g.query.pageToken])).toEqual([
      ['3', undefined],
      ['3', '3'],
      ['3', '6'],
    ]);
  });

  test('a failing query rejects with BigQuery’s message', () => {
    expect(out.error).toMatch(/Unrecognized name: nope/);
  });

  test('insertRows: DML INSERT with escaped literals, in chunks', () => {
    expect(
      posts()
        .map(sqlOf)
        .filter((s) => s.includes('`delivery_ledger` (`key`')),
    ).toEqual([
      "INSERT INTO `proj-1`.`_tagpipe`.`delivery_ledger` (`key`, `attempts`, `at`, `ok`) VALUES ('it\\'s', 1, TIMESTAMP '2026-03-01T00:00:00.000Z', TRUE),\n('back\\\\slash', NULL, NULL, FALSE)",
      "INSERT INTO `proj-1`.`_tagpipe`.`delivery_ledger` (`key`, `attempts`, `at`, `ok`) VALUES ('line\\nbreak', 3, TIMESTAMP '2026-03-02T00:00:00.000Z', NULL)",
    ]);
  });

  test('the state DDL and planner speak BigQuery, and sqlglot parses every statement sent', () => {
    expect(out.planTotal).toBe(0);
    const sqls = posts().map(sqlOf);
    expect(sqls).toContain('CREATE SCHEMA IF NOT EXISTS `proj-1`.`_tagpipe`');
    // delivery_ledger is a view over the per-record and per-request tables (src/sync/ledger.ts).
    expect(sqls.find((s) => s.includes('CREATE TABLE IF NOT EXISTS `proj-1`.`_tagpipe`.`delivery_records`'))).toContain(
      '`at` TIMESTAMP',
    );
    expect(
      sqls.find((s) => s.startsWith('CREATE VIEW IF NOT EXISTS `proj-1`.`_tagpipe`.`delivery_ledger`')),
    ).toBeDefined();
    expect(sqls.find((s) => s.includes('INFORMATION_SCHEMA.COLUMNS'))).toContain(
      'FROM `proj-1`.`marts`.INFORMATION_SCHEMA.COLUMNS',
    );
    const create = sqls.find((s) => s.startsWith('CREATE OR REPLACE TABLE')) as string;
    expect(create).toContain('CREATE OR REPLACE TABLE `proj-1`.`_tagpipe`.`plan_vip`');
    expect(create).toContain('TO_HEX(MD5(j))');
    expect(create).toContain('TO_JSON_STRING(src)');
    expect(create).toContain('s.`consent_ads` = TRUE');
    const python = path.join(ROOT, '.venv', 'bin', 'python');
    if (!fs.existsSync(python)) {
      throw new Error(
        'sqlglot is needed to check BigQuery SQL: run ./run setup (installs .venv from requirements.txt)',
      );
    }
    const script =
      'import json,sys,sqlglot\nfor s in json.load(sys.stdin): sqlglot.parse_one(s, read="bigquery")\nprint("ok")';
    const checked = sqls.filter((s) => s !== 'SELECT nope');
    expect(
      execFileSync(python, ['-c', script], { input: JSON.stringify(checked) })
        .toString()
        .trim(),
    ).toBe('ok');
  });
});
