/**
 * Deterministic synthetic traffic for the models tests and benchmarks. Owns the simulated shop: people with
 * devices, sessions of page views, carts and purchases, logins that merge devices, a shared kiosk device, consent
 * mixes (including denied → cookieless, and ads withdrawn later), ~5% re-published duplicates, late arrivals and a
 * few invalid records. Writes straight into the lander's raw Parquet layout (`localPaths(dataDir).rawTable`) with
 * canonical-event v1 `data`, so dbt reads it exactly as it reads landed traffic.
 *
 * Same seed and options → same rows. Batches (`--batch N`) continue the same people in the next time window and
 * re-publish a few events of batch N-1 (cross-run duplicates), for incremental runs.
 *
 *   npx tsx bench/gen/index.ts --seed 1 --events 100000 --data-dir DIR [--batch 0] [--start 2026-01-01] [--days 14]
 *     [--people N]   (pass the same --people to every batch of one data dir)
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import type { CanonicalEvent, InvalidEventRecord } from '../../src/core/event';
import { eventAttributes } from '../../src/core/event';
import { localPaths } from '../../src/warehouse/types';

export interface GenerateOptions {
  seed: number;
  /** Distinct new events to generate in this batch (raw rows are more: duplicates and replays). */
  events: number;
  dataDir: string;
  /** Batch number: batch N covers [start + N*days, start + (N+1)*days). */
  batch?: number;
  /** First day of batch 0, YYYY-MM-DD. */
  start?: string;
  days?: number;
  /**
   * Size of the simulated population; keep it the same for every batch of one data dir (people, and the previous
   * batch's sessions that get re-published, are derived from it). Default: sized from `events`.
   */
  people?: number;
  /** Rows per Parquet write; bounds memory. */
  chunkRows?: number;
  onProgress?: (rowsWritten: number) => void;
}

/** What the generator knows to be true, for tests to compare models against. */
export interface GenerateManifest {
  seed: number;
  batch: number;
  /** Population size used (pass it as `people` to later batches). */
  population: number;
  /** Distinct event_ids first published in this batch. */
  distinctEvents: number;
  /** Raw rows written to raw/events (distinct + duplicates + replays). */
  rawRows: number;
  duplicateRows: number;
  /** Rows re-publishing an event of the previous batch. */
  replayRows: number;
  /** Events whose publish_time is more than an hour after their timestamp. */
  lateEvents: number;
  invalidRows: number;
  /** Distinct transaction ids of purchases (some purchases are sent twice with different event_ids). */
  transactionIds: string[];
  /** Event ids of events without analytics consent (no identifiers). */
  cookielessEvents: number;
  /** Registered people seen in this batch: their user_id and every anonymous_id they used while logged in. */
  people: { userId: string; anonymousIds: string[]; emailSha256: string }[];
  /** user_ids whose latest consent (in this batch) denies ads. */
  adsDeniedUserIds: string[];
  /** The kiosk device shared by many users; the over-merge guard must keep it out of stitching. */
  kioskAnonymousId: string;
}

type Rng = () => number;

/** mulberry32: small, fast, good enough for traffic shapes; seeded per (seed, batch, session). */
function rngFor(...keys: number[]): Rng {
  let a = 0x9e3779b9;
  for (const k of keys) a = Math.imul(a ^ (k >>> 0), 0x85ebca6b) ^ (a >>> 13);
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const pick = <T>(rng: Rng, xs: readonly T[]): T => xs[Math.floor(rng() * xs.length)];
const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const hex = (rng: Rng, n: number) => Array.from({ length: n }, () => Math.floor(rng() * 16).toString(16)).join('');

const PRODUCTS = Array.from({ length: 40 }, (_, i) => ({
  item_id: `SKU-${1000 + i}`,
  item_name: `Product ${i}`,
  price: Math.round((5 + ((i * 37) % 200)) * 100) / 100,
  item_category: ['shoes', 'shirts', 'bags', 'hats'][i % 4],
}));
const PAGES = ['/', '/shoes', '/shirts', '/bags', '/hats', '/sale', '/about', '/blog/fit-guide', '/cart', '/checkout'];
const COUNTRIES = ['US', 'DE', 'FR', 'GB', 'NL', 'CA', 'BR', 'JP'];
const UTM = [
  { source: 'google', medium: 'cpc', name: 'brand' },
  { source: 'facebook', medium: 'paid_social', name: 'retarget' },
  { source: 'newsletter', medium: 'email', name: 'weekly' },
  null,
  null,
  null,
] as const;
const BROWSERS = [
  {
    ua: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/124.0 Safari/537.36',
    browser: 'Chrome',
    os: 'Windows',
    type: 'desktop',
  },
  {
    ua: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) Version/17.4 Mobile Safari/604.1',
    browser: 'Mobile Safari',
    os: 'iOS',
    type: 'mobile',
  },
  {
    ua: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) Version/17.4 Safari/605.1.15',
    browser: 'Safari',
    os: 'Mac OS',
    type: 'desktop',
  },
] as const;

type ConsentProfile = 'granted' | 'analytics_only' | 'denied' | 'withdraws_ads';

interface Person {
  index: number;
  registered: boolean;
  userId: string;
  email: string;
  devices: string[];
  country: string;
  profile: ConsentProfile;
}

/** People are a pure function of (seed, index), so every batch sees the same population. */
function person(seed: number, index: number): Person {
  const rng = rngFor(seed, 7, index);
  const r = rng();
  const profile: ConsentProfile =
    r < 0.6 ? 'granted' : r < 0.8 ? 'analytics_only' : r < 0.95 ? 'denied' : 'withdraws_ads';
  const deviceCount = 1 + Math.floor(rng() * 3);
  return {
    index,
    registered: rng() < 0.5 || index < KIOSK_USERS, // kiosk users all log in there
    userId: `u-${seed}-${index}`,
    email: `person${index}.s${seed}@example.com`,
    devices: Array.from(
      { length: deviceCount },
      () => `${hex(rng, 8)}-${hex(rng, 4)}-4${hex(rng, 3)}-a${hex(rng, 3)}-${hex(rng, 12)}`,
    ),
    country: pick(rng, COUNTRIES),
    profile,
  };
}

export const KIOSK_USERS = 6;
const kioskId = (seed: number) => `kiosk-${seed}-0000`;

interface Emitted {
  event: CanonicalEvent;
  publishMs: number;
}

interface SessionOut {
  events: Emitted[];
  person: Person;
  anonymousId: string | null;
  loggedIn: boolean;
  latestAds: boolean;
}

const EXTRA_SESSION_EVENTS = 6.5; // average events per session; sizes the session count

/** One visit of one person on one device; a pure function of (seed, batch, sessionIndex). */
function session(
  seed: number,
  batch: number,
  s: number,
  peopleCount: number,
  windowStartMs: number,
  windowMs: number,
): SessionOut {
  const rng = rngFor(seed, batch, s);
  const kiosk = s % 97 === 13;
  const p = kiosk
    ? person(seed, Math.floor(rng() * KIOSK_USERS)) // the first KIOSK_USERS people also log in at the kiosk
    : person(seed, Math.floor(rng() * peopleCount));
  const withdrawn = p.profile === 'withdraws_ads' && batch > 0; // ads granted in batch 0, withdrawn afterwards
  const consent = {
    analytics: p.profile !== 'denied',
    ads: p.profile === 'granted' || (p.profile === 'withdraws_ads' && !withdrawn),
    ad_user_data: p.profile === 'granted' || (p.profile === 'withdraws_ads' && !withdrawn),
    ad_personalization: p.profile === 'granted',
    source: pick(rng, ['gcm', 'explicit', 'tcf', 'default'] as const),
  };
  const cookieless = !consent.analytics;
  const anonymousId = cookieless ? null : kiosk ? kioskId(seed) : pick(rng, p.devices);
  const ga4 = rng() < 0.5;
  const browser = pick(rng, BROWSERS);
  const utm = pick(rng, UTM);
  const gclid = utm?.source === 'google' ? `Cj0K${hex(rng, 20)}` : null;
  const fbclid = utm?.source === 'facebook' ? `IwAR${hex(rng, 20)}` : null;
  const ip = cookieless ? null : `203.0.${Math.floor(rng() * 255)}.0`;
  let t = windowStartMs + Math.floor(rng() * windowMs * 0.95);
  const windowEnd = windowStartMs + windowMs;
  const sid = String(Math.floor(t / 1000));
  const late = rng() < 0.02;
  const lateMs = late ? 3_600_000 * (2 + Math.floor(rng() * 46)) : 0;
  const loginAt = p.registered && !cookieless && (kiosk || rng() < 0.6) ? 1 + Math.floor(rng() * 3) : -1;
  const events: Emitted[] = [];
  let loggedIn = false;
  let n = 0;
  const emit = (
    type: CanonicalEvent['type'],
    name: string | null,
    properties: Record<string, unknown>,
    traits: Record<string, unknown> = {},
  ) => {
    const pagePath = (properties.path as string | undefined) ?? pick(rng, PAGES);
    // A late event was recorded offline and flushed later: its client time lies hours before its receipt.
    const ts = new Date(t - lateMs);
    const received = new Date(t + 40);
    const ev: CanonicalEvent = {
      event_id: `e-${seed}-${batch}-${s}-${n++}`,
      type,
      event: name,
      anonymous_id: anonymousId,
      user_id: !cookieless && loggedIn ? p.userId : null,
      timestamp: ts.toISOString(),
      sent_at: received.toISOString(),
      received_at: received.toISOString(),
      source: { id: ga4 ? 'web-ga4' : 'web-sdk', protocol: ga4 ? 'ga4' : 'sdk' },
      context: {
        page: {
          url: `https://shop.example.com${pagePath}`,
          path: pagePath,
          referrer: null,
          title: `Shop ${pagePath}`,
          host: 'shop.example.com',
        },
        user_agent: browser.ua,
        ip,
        locale: 'en-US',
        campaign: utm ? { source: utm.source, medium: utm.medium, name: utm.name } : undefined,
        click_ids: cookieless
          ? undefined
          : { gclid, fbclid, fbc: fbclid ? `fb.1.${t}.${fbclid}` : null, fbp: `fb.1.${t}.${s}` },
        geo: { country: p.country, region: null, city: null },
        device: { type: browser.type, browser: browser.browser, os: browser.os, is_bot: false },
        session: ga4 ? { id: sid, number: 1 + (s % 5), engaged: true } : undefined,
      },
      properties,
      traits,
      consent,
      identifiers: loggedIn && !cookieless ? { email_sha256: sha256(p.email) } : {},
      schema_version: 1,
    };
    events.push({ event: ev, publishMs: Math.min(windowEnd - 1, received.getTime() + 10 + Math.floor(rng() * 200)) });
    // Inside a visit events are seconds to minutes apart; now and then a 40-minute pause (a new inactivity session).
    t += rng() < 0.03 ? 40 * 60_000 : 2_000 + Math.floor(rng() * 180_000);
  };

  const pages = 1 + Math.floor(rng() * 6);
  let cart: typeof PRODUCTS = [];
  for (let i = 0; i < pages; i++) {
    const pagePath = pick(rng, PAGES);
    emit('page', null, { path: pagePath, url: `https://shop.example.com${pagePath}`, title: `Shop ${pagePath}` });
    if (i === loginAt) {
      loggedIn = true;
      emit(
        'identify',
        null,
        {},
        {
          email: p.email,
          first_name: `First${p.index}`,
          last_name: `Last${p.index}`,
          plan: pick(rng, ['free', 'pro']),
        },
      );
    }
    if (rng() < 0.25) {
      const product = pick(rng, PRODUCTS);
      cart.push(product);
      emit('track', 'add_to_cart', { currency: 'USD', value: product.price, items: [{ ...product, quantity: 1 }] });
    }
  }
  if (cart.length > 0 && rng() < 0.45) {
    const value = Math.round(cart.reduce((acc, x) => acc + x.price, 0) * 100) / 100;
    const props = {
      transaction_id: `T-${seed}-${batch}-${s}`,
      value,
      currency: pick(rng, ['USD', 'usd', 'EUR']),
      items: cart.map((x) => ({ ...x, quantity: 1 })),
    };
    emit('track', 'purchase', props);
    if (rng() < 0.1) emit('track', 'purchase', props); // browser and server both fired: same transaction id
    cart = [];
  }
  return { events, person: p, anonymousId, loggedIn, latestAds: consent.ads };
}

function dayMs(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms)) throw new Error(`--start must be YYYY-MM-DD, got ${JSON.stringify(date)}`);
  return ms;
}

const SUBSCRIPTION = 'projects/tagpipe-local/subscriptions/events-raw';
// Same column types as the lander's files (src/warehouse/lander.ts), so both can share one raw folder.
const SCHEMA_SELECT =
  "SELECT ''::VARCHAR AS subscription_name, ''::VARCHAR AS message_id, TIMESTAMPTZ '2000-01-01 00:00:00+00' AS publish_time, " +
  'NULL::JSON AS "data", NULL::JSON AS "attributes" LIMIT 0';
const NDJSON_COLUMNS =
  "{'subscription_name': 'VARCHAR', 'message_id': 'VARCHAR', 'publish_time': 'TIMESTAMPTZ', 'data': 'VARCHAR', 'attributes': 'VARCHAR'}";

/** One raw row as an NDJSON line, as the subscription delivers the event. */
const rawLine = (messageId: string, publishTime: Date, event: CanonicalEvent): string =>
  JSON.stringify({
    subscription_name: SUBSCRIPTION,
    message_id: messageId,
    publish_time: publishTime.toISOString(),
    data: JSON.stringify(event),
    attributes: JSON.stringify(eventAttributes(event)),
  });

/**
 * Copies an NDJSON file of raw rows into the raw table folder `dir`: one Parquet file per publish date, sorted by
 * publish_time so Parquet row-group statistics prune incremental reads. `options` ends the COPY option list.
 */
function copyRaw(
  db: DuckDBConnection,
  file: string,
  dir: string,
  filenamePattern: string,
  options = '',
): Promise<unknown> {
  return db.run(
    `COPY (SELECT subscription_name, message_id, publish_time, "data"::JSON AS "data", "attributes"::JSON AS "attributes",
       strftime(publish_time, '%Y-%m-%d') AS "date" FROM read_ndjson(${sqlStr(file)}, columns = ${NDJSON_COLUMNS}) ORDER BY publish_time)
     TO ${sqlStr(dir)} (FORMAT parquet, PARTITION_BY ("date"), OVERWRITE_OR_IGNORE true,
     FILENAME_PATTERN '${filenamePattern}', COMPRESSION zstd${options})`,
  );
}

const sqlStr = (s: string) => `'${s.replace(/'/g, "''")}'`;

/** Generates one batch and writes it under `<dataDir>/raw/`. */
export async function generate(options: GenerateOptions): Promise<GenerateManifest> {
  const { seed, events: target, dataDir } = options;
  const batch = options.batch ?? 0;
  const days = options.days ?? 14;
  const chunkRows = options.chunkRows ?? 250_000;
  if (!Number.isInteger(seed) || !Number.isInteger(target) || target < 1)
    throw new Error('seed and events must be integers, events ≥ 1');
  const windowMs = days * 86_400_000;
  const windowStart = dayMs(options.start ?? '2026-01-01') + batch * windowMs;
  const peopleCount = options.people ?? Math.max(KIOSK_USERS + 1, Math.round((target / EXTRA_SESSION_EVENTS) * 0.35));
  if (!Number.isInteger(peopleCount) || peopleCount <= KIOSK_USERS) throw new Error(`people must be > ${KIOSK_USERS}`);
  const paths = localPaths(dataDir);

  const instance = await DuckDBInstance.create(':memory:', { threads: String(Math.max(1, os.cpus().length)) });
  const db = await instance.connect();
  await db.run("SET TimeZone = 'UTC'");
  for (const table of ['events', 'events_invalid'] as const) {
    fs.mkdirSync(paths.rawTable(table), { recursive: true });
    const schemaFile = path.join(paths.rawTable(table), '_schema.parquet');
    if (!fs.existsSync(schemaFile)) await db.run(`COPY (${SCHEMA_SELECT}) TO ${sqlStr(schemaFile)} (FORMAT parquet)`);
  }

  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-gen-'));
  const manifest: GenerateManifest = {
    seed,
    batch,
    population: peopleCount,
    distinctEvents: 0,
    rawRows: 0,
    duplicateRows: 0,
    replayRows: 0,
    lateEvents: 0,
    invalidRows: 0,
    transactionIds: [],
    cookielessEvents: 0,
    people: [],
    adsDeniedUserIds: [],
    kioskAnonymousId: kioskId(seed),
  };
  const people = new Map<string, { anon: Set<string>; email: string; ads: boolean; lastMs: number }>();
  const txIds = new Set<string>();
  let lines: string[] = [];
  let invalid: string[] = [];
  let chunk = 0;
  const rowRng = rngFor(seed, batch, 0x5eed);

  const row = (e: CanonicalEvent, publishMs: number) => {
    lines.push(rawLine(String(1e12 + seed * 1e9 + batch * 1e8 + manifest.rawRows), new Date(publishMs), e));
    manifest.rawRows++;
  };

  const flush = async () => {
    for (const [table, rows] of [['events', lines] as const, ['events_invalid', invalid] as const]) {
      if (rows.length === 0) continue;
      const file = path.join(tmp, `${table}-${chunk}.ndjson`);
      fs.writeFileSync(file, rows.join('\n') + '\n');
      await copyRaw(db, file, paths.rawTable(table), `gen-s${seed}-b${batch}-c${chunk}-{i}`, ', ROW_GROUP_SIZE 100000');
      fs.rmSync(file);
    }
    options.onProgress?.(manifest.rawRows);
    lines = [];
    invalid = [];
    chunk++;
  };

  try {
    // Cross-run duplicates: re-publish some events of the previous batch's first sessions, now.
    if (batch > 0) {
      const prevStart = windowStart - windowMs;
      for (let s = 0; s < 20; s++) {
        const prev = session(seed, batch - 1, s, peopleCount, prevStart, windowMs);
        for (const { event } of prev.events.slice(0, 2)) {
          row(event, windowStart + Math.floor(rowRng() * 3_600_000));
          manifest.replayRows++;
        }
      }
    }
    for (let s = 0; manifest.distinctEvents < target; s++) {
      const out = session(seed, batch, s, peopleCount, windowStart, windowMs);
      const room = target - manifest.distinctEvents;
      for (const { event, publishMs } of out.events.slice(0, room)) {
        row(event, publishMs);
        manifest.distinctEvents++;
        if (publishMs - Date.parse(event.timestamp) > 3_600_000) manifest.lateEvents++;
        if (!event.consent.analytics) manifest.cookielessEvents++;
        if (event.event === 'purchase') txIds.add(String(event.properties.transaction_id));
        if (rowRng() < 0.05) {
          // At-least-once delivery: the same event published again seconds to hours later.
          // Kept inside the batch window: a batch is what was published before the next run.
          row(event, Math.min(windowStart + windowMs - 1, publishMs + 1_000 + Math.floor(rowRng() * 6 * 3_600_000)));
          manifest.duplicateRows++;
        }
        if (event.user_id) {
          const entry = people.get(event.user_id) ?? {
            anon: new Set<string>(),
            email: out.person.email,
            ads: true,
            lastMs: 0,
          };
          if (event.anonymous_id && event.anonymous_id !== kioskId(seed)) entry.anon.add(event.anonymous_id);
          const ms = Date.parse(event.timestamp);
          if (ms >= entry.lastMs) {
            entry.lastMs = ms;
            entry.ads = event.consent.ads;
          }
          people.set(event.user_id, entry);
        }
      }
      if (s % 500 === 7) {
        const record: InvalidEventRecord = {
          reason: 'invalid_event',
          errors: ['event: track events need an event name'],
          received_at: new Date(windowStart + s * 1000).toISOString(),
          source: { id: 'web-sdk', protocol: 'sdk' },
          event_id: `bad-${seed}-${batch}-${s}`,
          raw: { type: 'track', properties: {} },
          schema_version: 1,
        };
        invalid.push(
          JSON.stringify({
            subscription_name: 'projects/tagpipe-local/subscriptions/events-invalid-raw',
            message_id: `inv-${seed}-${batch}-${s}`,
            publish_time: record.received_at,
            data: JSON.stringify(record),
            attributes: JSON.stringify({ reason: record.reason }),
          }),
        );
        manifest.invalidRows++;
      }
      if (lines.length >= chunkRows) await flush();
    }
    await flush();
  } finally {
    db.closeSync();
    instance.closeSync();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
  manifest.transactionIds = [...txIds].sort();
  manifest.people = [...people.entries()]
    .map(([userId, v]) => ({ userId, anonymousIds: [...v.anon].sort(), emailSha256: sha256(v.email) }))
    .sort((a, b) => a.userId.localeCompare(b.userId));
  manifest.adsDeniedUserIds = [...people.entries()]
    .filter(([, v]) => !v.ads)
    .map(([k]) => k)
    .sort();
  return manifest;
}

/**
 * Writes hand-made events into the raw layout next to generated batches (one Parquet file, `name` in its file name),
 * for tests that need a precise situation (a merge, a split, a lone consent change). Message ids are derived from
 * `name`, so the file is the same on every run.
 */
export async function writeRawEvents(
  dataDir: string,
  name: string,
  rows: { event: CanonicalEvent; publishTime: Date }[],
): Promise<void> {
  if (!/^[a-z0-9-]+$/.test(name)) throw new Error(`writeRawEvents: name must be [a-z0-9-]+, got ${name}`);
  const paths = localPaths(dataDir);
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-gen-'));
  const instance = await DuckDBInstance.create(':memory:');
  const db = await instance.connect();
  try {
    await db.run("SET TimeZone = 'UTC'");
    const file = path.join(tmp, 'events.ndjson');
    const lines = rows.map(({ event, publishTime }, i) => rawLine(`${name}-${i}`, publishTime, event));
    fs.writeFileSync(file, lines.join('\n') + '\n');
    await copyRaw(db, file, paths.rawTable('events'), `hand-${name}-{i}`);
  } finally {
    db.closeSync();
    instance.closeSync();
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function parseArgs(argv: string[]): GenerateOptions & { manifest?: string } {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const value = argv[i + 1];
    if (value === undefined || value.startsWith('--')) throw new Error(`${a} needs a value`);
    out[a.slice(2)] = value;
    i++;
  }
  const known = new Set(['seed', 'events', 'data-dir', 'batch', 'start', 'days', 'people', 'manifest']);
  for (const k of Object.keys(out)) if (!known.has(k)) throw new Error(`unknown option --${k}`);
  if (!out['data-dir']) throw new Error('--data-dir is required');
  const int = (k: string, d: number) => (out[k] === undefined ? d : Number.parseInt(out[k], 10));
  return {
    seed: int('seed', 1),
    events: int('events', 100_000),
    dataDir: out['data-dir'],
    batch: int('batch', 0),
    start: out.start,
    days: int('days', 14),
    people: out.people === undefined ? undefined : int('people', 0),
    manifest: out.manifest,
  };
}

async function main(): Promise<void> {
  const opts = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const manifest = await generate({
    ...opts,
    onProgress: (n) => process.stderr.write(`\rgen: ${n} rows`),
  });
  process.stderr.write('\n');
  const seconds = (Date.now() - started) / 1000;
  const summary = {
    ...manifest,
    transactionIds: manifest.transactionIds.length,
    people: manifest.people.length,
    adsDeniedUserIds: manifest.adsDeniedUserIds.length,
    seconds,
  };
  if (opts.manifest) fs.writeFileSync(opts.manifest, JSON.stringify(manifest, null, 2));
  process.stdout.write(JSON.stringify(summary) + '\n');
}

if (require.main === module) {
  main().catch((err: unknown) => {
    process.stderr.write(`gen: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
