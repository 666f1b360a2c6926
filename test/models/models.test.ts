/**
 * The dbt project end to end on DuckDB: generated traffic → `dbt build` → the marts hold what the generator knows
 * to be true (distinct events, transactions, stitched people, consent); then new and late traffic → incremental run
 * → the same truths, with only the new rows inserted. Also: the BigQuery target compiles offline and every
 * compiled statement parses as BigQuery SQL.
 * Needs the Python venv with dbt (`./run setup`).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';
import { createHash } from 'node:crypto';
import { generate, writeRawEvents, type GenerateManifest } from '../../bench/gen';
import { canonicalEventSchema, formatIssues, type CanonicalEvent } from '../../src/core/event';
import { dbtExecutable, findProjectRoot, runDbt } from '../../src/warehouse/dbt';
import { localPaths } from '../../src/warehouse/types';

const run = promisify(execFile);
const ROOT = findProjectRoot(__dirname);
const PYTHON = path.join(ROOT, '.venv', 'bin', 'python');
const SEED = 7;
const AS_OF_1 = '2026-01-15 00:00:00';
const AS_OF_2 = '2026-01-29 00:00:00';

type Row = Record<string, unknown>;

async function query(file: string, sql: string): Promise<Row[]> {
  const instance = await DuckDBInstance.create(file, { access_mode: file === ':memory:' ? 'READ_WRITE' : 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll(sql);
    return reader.getRowObjectsJson() as Row[];
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

async function dbt(args: string[], dataDir: string, extra: Partial<Parameters<typeof runDbt>[1]> = {}) {
  const lines: string[] = [];
  const result = await runDbt(args, { dataDir, onLine: (line) => lines.push(line), ...extra });
  if (result.code !== 0) {
    throw new Error(`dbt ${args.join(' ')} exited ${result.code}:\n${lines.slice(-60).join('\n')}`);
  }
  return lines;
}

const num = (v: unknown) => Number(v);
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

/** The marts' rows that an incremental run must get exactly as a full rebuild does. */
const snapshot = async (warehouse: string) => ({
  sessions: await query(
    warehouse,
    'SELECT session_key, person_id, event_count, page_views, started_at, ended_at, landing_page_path, is_engaged FROM marts.sessions ORDER BY session_key',
  ),
  users: await query(
    warehouse,
    'SELECT person_id, user_id, anonymous_ids, email, first_name, email_sha256, country, traits, event_count, first_seen_at, last_seen_at, purchase_count, lifetime_value, last_purchase_at, consent_ads, consent_source FROM marts.users ORDER BY person_id',
  ),
  consent: await query(
    warehouse,
    'SELECT person_id, consent_analytics, consent_ads, consent_ad_user_data, consent_ad_personalization, consent_source, consent_updated_at FROM marts.consent_state ORDER BY person_id',
  ),
  events: await query(warehouse, 'SELECT event_id, person_id, session_key FROM marts.events ORDER BY event_id'),
  members: await query(warehouse, 'SELECT member_key FROM marts.audience_members ORDER BY member_key'),
  conversions: await query(
    warehouse,
    'SELECT conversion_key, event_id, person_id, session_key, value FROM marts.conversions ORDER BY conversion_key',
  ),
  identities: await query(
    warehouse,
    'SELECT node, person_id, first_seen_at, last_seen_at, is_stitching_excluded FROM marts.identities ORDER BY node',
  ),
});

function expectSameMarts(
  incremental: Awaited<ReturnType<typeof snapshot>>,
  full: Awaited<ReturnType<typeof snapshot>>,
) {
  for (const key of Object.keys(full) as (keyof typeof full)[]) {
    expect({ key, rows: incremental[key].length }).toEqual({ key, rows: full[key].length });
    expect(incremental[key]).toEqual(full[key]);
  }
}

describe('dbt models on DuckDB', () => {
  let dataDir: string;
  let warehouse: string;
  let batch0: GenerateManifest;
  let batch1: GenerateManifest;
  let membersAfterRun1: Row[] = [];

  beforeAll(() => {
    if (!fs.existsSync(dbtExecutable(ROOT))) {
      throw new Error(`dbt is not installed (${dbtExecutable(ROOT)} is missing): run ./run setup first`);
    }
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-models-'));
    warehouse = localPaths(dataDir).warehouse;
  });

  afterAll(() => {
    if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the generator writes canonical v1 events into the raw Parquet layout', async () => {
    batch0 = await generate({
      seed: SEED,
      events: 6000,
      people: 320,
      dataDir,
      batch: 0,
      start: '2026-01-01',
      days: 14,
    });
    const rows = await query(
      ':memory:',
      `SELECT data, message_id FROM read_parquet('${localPaths(dataDir).rawGlob('events')}', hive_partitioning = false)`,
    );
    expect(rows).toHaveLength(batch0.rawRows);
    expect(batch0.duplicateRows).toBeGreaterThan(batch0.distinctEvents * 0.03);
    expect(batch0.lateEvents).toBeGreaterThan(0);
    const bad: string[] = [];
    const ids = new Set<string>();
    for (const row of rows) {
      const parsed = canonicalEventSchema.safeParse(JSON.parse(String(row.data)));
      if (!parsed.success) bad.push(`${String(row.message_id)}: ${formatIssues(parsed.error).join('; ')}`);
      else ids.add(parsed.data.event_id);
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(ids.size).toBe(batch0.distinctEvents);
  });

  test('a full build passes every dbt data and unit test', async () => {
    await dbt(['build', '--vars', `{tagpipe_as_of: "${AS_OF_1}"}`], dataDir);
  }, 240_000);

  test('events: one row per distinct event_id, duplicates dropped', async () => {
    const [r] = await query(
      warehouse,
      'SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(*) FILTER (WHERE NOT consent_analytics) AS cookieless, ' +
        'count(*) FILTER (WHERE NOT consent_analytics AND (person_id IS NOT NULL OR anonymous_id IS NOT NULL)) AS leaked ' +
        'FROM marts.events',
    );
    expect(num(r.n)).toBe(batch0.distinctEvents);
    expect(num(r.ids)).toBe(batch0.distinctEvents);
    expect(num(r.cookieless)).toBe(batch0.cookielessEvents);
    expect(num(r.leaked)).toBe(0);
    const [invalid] = await query(
      warehouse,
      "SELECT count(*) AS n, count(*) FILTER (WHERE reason = 'invalid_event') AS with_reason FROM marts_staging.stg_events_invalid",
    );
    expect(batch0.invalidRows).toBeGreaterThan(0);
    expect(num(invalid.n)).toBe(batch0.invalidRows);
    expect(num(invalid.with_reason)).toBe(batch0.invalidRows);
  });

  test('conversions: one per transaction id', async () => {
    const rows = await query(warehouse, 'SELECT transaction_id FROM marts.conversions ORDER BY transaction_id');
    expect(rows.map((r) => r.transaction_id)).toEqual(batch0.transactionIds);
  });

  test('identities: every device a person logged in on is stitched to one person, and people stay apart', async () => {
    const rows = await query(warehouse, 'SELECT identifier_type, identifier, person_id FROM marts.identities');
    const personOf = new Map(rows.map((r) => [`${String(r.identifier_type)}:${String(r.identifier)}`, r.person_id]));
    const multiDevice = batch0.people.filter((p) => p.anonymousIds.length >= 2);
    expect(multiDevice.length).toBeGreaterThan(10);
    const persons = new Set<unknown>();
    for (const p of batch0.people) {
      const expected = personOf.get(`user_id:${p.userId}`);
      expect(expected).toBeDefined();
      const actual = [
        ...p.anonymousIds.map((a) => personOf.get(`anonymous_id:${a}`)),
        personOf.get(`email_sha256:${p.emailSha256}`),
      ];
      expect({ user: p.userId, persons: actual }).toEqual({ user: p.userId, persons: actual.map(() => expected) });
      persons.add(expected);
    }
    expect(persons.size).toBe(batch0.people.length);
    const [users] = await query(
      warehouse,
      'SELECT count(*) AS n, count(DISTINCT person_id) AS p, (SELECT count(DISTINCT person_id) FROM marts.identities) AS ids FROM marts.users',
    );
    expect(num(users.n)).toBe(num(users.ids));
    expect(num(users.p)).toBe(num(users.ids));
  });

  test('the shared kiosk device merges nobody (over-merge guard)', async () => {
    const rows = await query(
      warehouse,
      `SELECT person_id, is_stitching_excluded FROM marts.identities
       WHERE identifier_type = 'anonymous_id' AND identifier = '${batch0.kioskAnonymousId}'`,
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].is_stitching_excluded).toBe(true);
    const [shared] = await query(
      warehouse,
      `SELECT count(*) AS n FROM marts.identities WHERE person_id = '${String(rows[0].person_id)}'`,
    );
    expect(num(shared.n)).toBe(1);
  });

  test('sessions cover every event with an anonymous_id', async () => {
    const [r] = await query(
      warehouse,
      `SELECT (SELECT sum(event_count) FROM marts.sessions) AS in_sessions,
              (SELECT count(*) FROM marts.events WHERE anonymous_id IS NOT NULL) AS identified,
              (SELECT count(*) FROM marts.sessions WHERE session_id IS NOT NULL) AS ga4,
              (SELECT count(*) FROM marts.sessions WHERE session_id IS NULL) AS inactivity`,
    );
    expect(num(r.in_sessions)).toBe(num(r.identified));
    expect(num(r.ga4)).toBeGreaterThan(0);
    expect(num(r.inactivity)).toBeGreaterThan(0);
  });

  test('audiences: filled, and only people whose latest consent allows ads', async () => {
    membersAfterRun1 = await query(
      warehouse,
      'SELECT audience_id, person_id, user_id, consent_ads FROM marts.audience_members',
    );
    const audiences = new Set(membersAfterRun1.map((m) => m.audience_id));
    expect([...audiences].sort()).toEqual(['cart_abandoners_7d', 'high_value_customers', 'purchasers_30d']);
    expect(membersAfterRun1.every((m) => m.consent_ads === true)).toBe(true);
    const denied = new Set(batch0.adsDeniedUserIds);
    expect(denied.size).toBeGreaterThan(0);
    expect(membersAfterRun1.filter((m) => denied.has(String(m.user_id)))).toEqual([]);
    const [all] = await query(
      warehouse,
      `SELECT count(*) AS n FROM marts.conversions c JOIN marts.consent_state s USING (person_id)
       WHERE c.occurred_at >= TIMESTAMPTZ '${AS_OF_1}+00' - INTERVAL 30 DAY AND NOT s.consent_ads`,
    );
    expect(num(all.n)).toBeGreaterThan(0); // purchasers without ads consent exist, and were kept out
  });

  test('new and late traffic: the incremental run inserts only the new events', async () => {
    batch1 = await generate({
      seed: SEED,
      events: 1500,
      people: 320,
      dataDir,
      batch: 1,
      start: '2026-01-01',
      days: 14,
    });
    expect(batch1.replayRows).toBeGreaterThan(0);
    await dbt(['build', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);
    const [r] = await query(
      warehouse,
      `SELECT count(*) AS n, count(DISTINCT event_id) AS ids, count(DISTINCT loaded_at) AS loads,
              count(*) FILTER (WHERE loaded_at = (SELECT max(loaded_at) FROM marts_intermediate.int_events_deduped)) AS newest,
              count(*) FILTER (WHERE event_id LIKE 'e-${SEED}-1-%' AND occurred_at < received_at - INTERVAL 1 HOUR) AS late
       FROM marts_intermediate.int_events_deduped`,
    );
    expect(num(r.n)).toBe(batch0.distinctEvents + batch1.distinctEvents);
    expect(num(r.ids)).toBe(num(r.n));
    expect(num(r.loads)).toBe(2);
    expect(num(r.newest)).toBe(batch1.distinctEvents);
    expect(batch1.lateEvents).toBeGreaterThan(0);
    expect(num(r.late)).toBe(batch1.lateEvents);
    const conversions = await query(warehouse, 'SELECT transaction_id FROM marts.conversions ORDER BY transaction_id');
    expect(conversions.map((c) => c.transaction_id)).toEqual(
      [...new Set([...batch0.transactionIds, ...batch1.transactionIds])].sort(),
    );
  }, 240_000);

  test('consent withdrawal in new traffic removes the person from every audience', async () => {
    const withdrawn = new Set(batch1.adsDeniedUserIds.filter((u) => !batch0.adsDeniedUserIds.includes(u)));
    const wereMembers = membersAfterRun1.filter((m) => withdrawn.has(String(m.user_id)));
    expect(wereMembers.length).toBeGreaterThan(0);
    const members = await query(warehouse, 'SELECT user_id, consent_ads FROM marts.audience_members');
    expect(members.filter((m) => withdrawn.has(String(m.user_id)))).toEqual([]);
    expect(members.every((m) => m.consent_ads === true)).toBe(true);
  });

  test('incremental results equal a full rebuild', async () => {
    const incremental = await snapshot(warehouse);
    expect(incremental.sessions.length).toBeGreaterThan(100);
    await dbt(['run', '--full-refresh', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);
    expectSameMarts(incremental, await snapshot(warehouse));
  }, 240_000);

  test('stitching picks up devices linked by new logins across runs', async () => {
    const rows = await query(warehouse, 'SELECT identifier_type, identifier, person_id FROM marts.identities');
    const personOf = new Map(rows.map((r) => [`${String(r.identifier_type)}:${String(r.identifier)}`, r.person_id]));
    const both = batch1.people.filter((p) => batch0.people.some((q) => q.userId === p.userId));
    expect(both.length).toBeGreaterThan(0);
    for (const p of both) {
      const before = batch0.people.find((q) => q.userId === p.userId)!;
      const devices = [...new Set([...before.anonymousIds, ...p.anonymousIds])];
      const expected = personOf.get(`user_id:${p.userId}`);
      expect({ user: p.userId, persons: devices.map((a) => personOf.get(`anonymous_id:${a}`)) }).toEqual({
        user: p.userId,
        persons: devices.map(() => expected),
      });
    }
  });

  test('a merge, a split and a lone consent withdrawal: the next run re-rolls those people, as a rebuild would', async () => {
    const identities = await query(
      warehouse,
      'SELECT node, identifier_type, identifier, person_id, is_stitching_excluded FROM marts.identities',
    );
    const personOf = new Map(identities.map((r) => [String(r.node), String(r.person_id)]));
    const nodesOf = (person: string) => identities.filter((r) => r.person_id === person);
    // A person_id is the hash of the person's oldest identifier (identities.sql).
    const rootOf = (person: string) =>
      nodesOf(person).find((r) => sha256(`person:${String(r.node)}`).slice(0, 32) === person);
    const everyone = [...batch0.people, ...batch1.people];
    const registered = [...new Map(everyone.map((p) => [p.userId, p])).values()].filter((p) =>
      personOf.has(`user_id:${p.userId}`),
    );
    const personOfUser = (userId: string) => personOf.get(`user_id:${userId}`)!;
    const members = await query(warehouse, 'SELECT audience_id, person_id, user_id FROM marts.audience_members');

    // Withdrawal: an audience member whose only new event is an anonymous page view that withdraws ads consent.
    const withdrawer = members.find((m) => m.user_id !== null)!;
    expect(withdrawer).toBeDefined();
    const withdrawerPerson = String(withdrawer.person_id);
    const withdrawerDevice = nodesOf(withdrawerPerson).find(
      (r) => r.identifier_type === 'anonymous_id' && r.is_stitching_excluded === false,
    )!;
    expect(withdrawerDevice).toBeDefined();
    // Merge: a login of B carrying A's email links A's and B's people.
    const untouched = (p: { userId: string }) => personOfUser(p.userId) !== withdrawerPerson;
    const [a, b] = registered.filter(untouched);
    const before = { a: personOfUser(a.userId), b: personOfUser(b.userId) };
    expect(before.a).not.toBe(before.b);
    // Split: a device of C shows up with 3 more user_ids, so the over-merge guard takes it out of C's person.
    const c = registered.find(
      (p) =>
        untouched(p) &&
        ![before.a, before.b].includes(personOfUser(p.userId)) &&
        nodesOf(personOfUser(p.userId)).filter((r) => r.identifier_type === 'anonymous_id').length >= 2,
    )!;
    expect(c).toBeDefined();
    const cPerson = personOfUser(c.userId);
    const cRoot = rootOf(cPerson)!;
    expect(cRoot).toBeDefined();
    // The root device if the person started anonymous (its person_id then moves to the device alone), else any device.
    const splitDevice = String(
      (cRoot.identifier_type === 'anonymous_id'
        ? cRoot
        : nodesOf(cPerson).find((r) => r.identifier_type === 'anonymous_id'))!.identifier,
    );

    const at = Date.parse('2026-01-29T00:30:00Z');
    let n = 0;
    const event = (fields: Partial<CanonicalEvent>, consentAds = true): CanonicalEvent =>
      canonicalEventSchema.parse({
        event_id: `hand-${SEED}-${n++}`,
        type: 'page',
        event: null,
        anonymous_id: null,
        user_id: null,
        timestamp: new Date(at + n * 60_000).toISOString(),
        received_at: new Date(at + n * 60_000 + 50).toISOString(),
        source: { id: 'web-sdk', protocol: 'sdk' },
        context: { page: { url: 'https://shop.example.com/', path: '/' } },
        properties: {},
        traits: {},
        consent: {
          analytics: true,
          ads: consentAds,
          ad_user_data: consentAds,
          ad_personalization: consentAds,
          source: 'explicit',
        },
        identifiers: {},
        schema_version: 1,
        ...fields,
      });
    const events = [
      event({ anonymous_id: String(withdrawerDevice.identifier) }, false),
      event({ type: 'identify', user_id: b.userId, identifiers: { email_sha256: a.emailSha256 } }),
      ...[1, 2, 3].map((i) => event({ anonymous_id: splitDevice, user_id: `split-${SEED}-${i}` })),
    ];
    await writeRawEvents(
      dataDir,
      'restitch',
      events.map((e) => ({ event: e, publishTime: new Date(Date.parse(e.received_at) + 1000) })),
    );
    await dbt(['build', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);

    const after = await query(warehouse, 'SELECT node, person_id FROM marts.identities');
    const personAfter = new Map(after.map((r) => [String(r.node), String(r.person_id)]));
    const users = new Set((await query(warehouse, 'SELECT person_id FROM marts.users')).map((r) => r.person_id));
    const consent = new Map(
      (await query(warehouse, 'SELECT person_id, consent_ads FROM marts.consent_state')).map((r) => [
        r.person_id,
        r.consent_ads,
      ]),
    );
    const people = new Set(after.map((r) => r.person_id));
    expect(users).toEqual(people);
    expect(new Set(consent.keys())).toEqual(people);

    // Merge: one person now, and the person that dissolved has no row left anywhere.
    const merged = personAfter.get(`user_id:${a.userId}`)!;
    expect(personAfter.get(`user_id:${b.userId}`)).toBe(merged);
    const gone = [before.a, before.b].filter((p) => p !== merged);
    expect(gone).toHaveLength(1);
    expect(users.has(gone[0])).toBe(false);
    expect(consent.has(gone[0])).toBe(false);

    // Split: the device and the rest of C are two people, each with a row.
    const device = personAfter.get(`anonymous_id:${splitDevice}`)!;
    const rest = personAfter.get(`user_id:${c.userId}`)!;
    expect(device).not.toBe(rest);
    expect(after.filter((r) => r.person_id === device)).toHaveLength(1);
    expect(users.has(device) && users.has(rest)).toBe(true);
    for (const i of [1, 2, 3]) expect(users.has(personAfter.get(`user_id:split-${SEED}-${i}`))).toBe(true);

    // Withdrawal: latest consent denies ads, and the person is in no audience any more.
    expect(personAfter.get(String(withdrawerDevice.node))).toBe(withdrawerPerson);
    expect(consent.get(withdrawerPerson)).toBe(false);
    const membersAfter = await query(warehouse, 'SELECT person_id FROM marts.audience_members');
    expect(membersAfter.filter((m) => m.person_id === withdrawerPerson)).toEqual([]);

    const incremental = await snapshot(warehouse);
    await dbt(['run', '--full-refresh', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);
    expectSameMarts(incremental, await snapshot(warehouse));
  }, 360_000);

  test('late events that extend and merge stored sessions: the sessions a rebuild finds, stale ones deleted', async () => {
    const device = `late-dev-${SEED}`;
    let n = 0;
    const event = (
      time: string,
      sid: string | null,
      publish: string,
    ): { event: CanonicalEvent; publishTime: Date } => ({
      event: canonicalEventSchema.parse({
        event_id: `late-${SEED}-${n++}`,
        type: 'page',
        event: null,
        anonymous_id: device,
        user_id: null,
        timestamp: `2026-01-29T${time}:00.000Z`,
        received_at: `2026-01-29T${publish}:00.000Z`,
        source: { id: 'web-sdk', protocol: 'sdk' },
        context: { page: { url: 'https://shop.example.com/', path: '/' }, session: sid ? { id: sid } : undefined },
        properties: {},
        traits: {},
        consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true, source: 'explicit' },
        identifiers: {},
        schema_version: 1,
      }),
      publishTime: new Date(`2026-01-29T${publish}:01.000Z`),
    });
    const sessionsOf = () =>
      query(
        warehouse,
        `SELECT session_key, session_id, strftime(started_at, '%H:%M') AS started, strftime(ended_at, '%H:%M') AS ended, event_count
         FROM marts_intermediate.int_sessions WHERE anonymous_id = '${device}' ORDER BY started_at`,
      );
    // Three inactivity sessions (the first a chain of 25-minute gaps) and a GA4 one.
    await writeRawEvents(dataDir, 'late-sessions-a', [
      ...['08:00', '08:25', '08:50', '09:15', '10:00', '10:20', '11:00', '11:10'].map((t) => event(t, null, '12:00')),
      event('10:05', 'g1', '12:00'),
    ]);
    await dbt(['run', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);
    const before = await sessionsOf();
    expect(before.map((r) => [r.session_id, r.started, r.ended, num(r.event_count)])).toEqual([
      [null, '08:00', '09:15', 4],
      [null, '10:00', '10:20', 2],
      ['g1', '10:05', '10:05', 1],
      [null, '11:00', '11:10', 2],
    ]);
    // Late arrivals: 09:40 joins the first two sessions (09:15 began at 08:00, before anything re-read), 10:45
    // joins the third; 10:30 lands in the GA4 session.
    await writeRawEvents(dataDir, 'late-sessions-b', [
      event('09:40', null, '13:00'),
      event('10:45', null, '13:00'),
      event('10:30', 'g1', '13:00'),
    ]);
    await dbt(['build', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);
    const after = await sessionsOf();
    expect(after.map((r) => [r.session_id, r.started, r.ended, num(r.event_count)])).toEqual([
      [null, '08:00', '11:10', 10],
      ['g1', '10:05', '10:30', 2],
    ]);
    expect(after[0].session_key).toBe(before[0].session_key);
    expect(after[1].session_key).toBe(before[2].session_key);

    const incremental = await snapshot(warehouse);
    await dbt(['run', '--full-refresh', '--vars', `{tagpipe_as_of: "${AS_OF_2}"}`], dataDir);
    expectSameMarts(incremental, await snapshot(warehouse));
  }, 360_000);
});

describe('dbt models on BigQuery (offline)', () => {
  let dir: string;

  beforeAll(() => {
    if (!fs.existsSync(dbtExecutable(ROOT))) {
      throw new Error(`dbt is not installed (${dbtExecutable(ROOT)} is missing): run ./run setup first`);
    }
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-bq-'));
  });

  afterAll(() => {
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  test('the prod target compiles with no network, and every statement parses as BigQuery SQL', async () => {
    // A syntactically valid service-account key: dbt-bigquery builds credentials from it without a network call;
    // --no-introspect and tagpipe_offline_incremental keep compilation from asking BigQuery anything.
    const keyfile = path.join(dir, 'key.json');
    await run(PYTHON, [
      '-c',
      `import json, sys
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives import serialization
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
json.dump({"type": "service_account", "project_id": "tagpipe-ci", "private_key_id": "0", "private_key": pem,
  "client_email": "dbt@tagpipe-ci.iam.gserviceaccount.com", "client_id": "0",
  "token_uri": "https://oauth2.googleapis.com/token"}, open(sys.argv[1], "w"))`,
      keyfile,
    ]);
    const env = {
      ...process.env,
      TAGPIPE_BQ_PROJECT: 'tagpipe-ci',
      TAGPIPE_BQ_KEYFILE: keyfile,
      TAGPIPE_BQ_DATASET: 'shop_marts',
      TAGPIPE_BQ_RAW_DATASET: 'shop_raw',
    };
    const targets: string[] = [];
    for (const incremental of [false, true]) {
      const dataDir = path.join(dir, `compile-${incremental}`);
      await dbt(
        [
          'compile',
          '--no-populate-cache',
          '--no-introspect',
          '--vars',
          `{tagpipe_offline_incremental: ${incremental}}`,
        ],
        dataDir,
        { target: 'prod', env },
      );
      targets.push(path.join(localPaths(dataDir).dbt, 'target'));
    }
    const incrementalSql = fs.readFileSync(
      path.join(targets[1], 'compiled', 'tagpipe', 'models', 'intermediate', 'int_events_deduped.sql'),
      'utf8',
    );
    expect(incrementalSql).toContain('`tagpipe-ci`.`shop_marts_intermediate`.`int_events_deduped`');
    expect(incrementalSql).toContain('`tagpipe-ci`.`shop_marts_staging`.`stg_events`');
    const stagingSql = fs.readFileSync(
      path.join(targets[0], 'compiled', 'tagpipe', 'models', 'staging', 'stg_events.sql'),
      'utf8',
    );
    expect(stagingSql).toContain('`tagpipe-ci`.`shop_raw`.`events`');
    expect(stagingSql).toContain("json_value(data, '$.context.click_ids.gclid')");
    expect(incrementalSql).toMatch(/where published_at >= timestamp\('/);
    const { stdout } = await run(PYTHON, [path.join(ROOT, 'sql', 'scripts', 'check_bigquery_sql.py'), ...targets]);
    expect(stdout).toMatch(/checked \d+ compiled files with sqlglot \(bigquery\): 0 failed/);
    expect(Number(/checked (\d+)/.exec(stdout)![1])).toBeGreaterThan(40);
  }, 180_000);
});
