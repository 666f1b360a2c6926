/**
 * Sync benchmark: a 1M-member audience mirror and a 1M-conversion append through the real planner, executor,
 * ledger and DuckDB warehouse, against in-process destination fakes with no latency (each request is serialised
 * to JSON as a real one would be). Reports rows/s (plan + send + ledger + snapshot), peak RSS and batch fill.
 *
 *   ./run bench sync            (or: npx tsx bench/sync/run.ts [--rows 1000000])
 *
 * Targets: ≥ 50,000 rows/s, peak RSS < 300 MB, batches ≥ 95% full.
 */
import { execFileSync } from 'node:child_process';
import { buildSync } from 'esbuild';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { systemClock, type Destination, type DestinationLimits, type Outcome } from '../../src/core/destination';
import { silentLogger } from '../../src/core/logger';
import { parseSync } from '../../src/sync/config';
import { runSync, type RunResult } from '../../src/sync/executor';
import { openLocalWarehouse, SYNC_MEMORY_LIMIT, SYNC_THREADS, type DuckDbWarehouse } from '../../src/warehouse/duckdb';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const ROWS = Number(flag('--rows') ?? 0) || 1_000_000;
const MEMORY_LIMIT = flag('--memory-limit') ?? SYNC_MEMORY_LIMIT;
const ALLOCATOR_FLUSH = flag('--allocator-flush');
const THREADS = Number(flag('--threads') ?? SYNC_THREADS);
/** Print a memory trace (process and DuckDB) for each run on stderr. */
const TRACE = args.includes('--trace');
/** While profiling: run only the mirror or only the append sync and print its figures. */
const ONLY = flag('--only');

function fakeDestination(
  name: string,
  limits: DestinationLimits,
  capabilities: Destination['capabilities'],
  dedup: Destination['dedup'],
): Destination<unknown> & { requests: number; bytes: number } {
  const dest = {
    name,
    description: 'benchmark fake: accepts everything, no latency',
    configSchema: z.unknown(),
    capabilities,
    limits,
    requiredConsent: ['ads'] as Destination['requiredConsent'],
    dedup,
    requests: 0,
    bytes: 0,
    send(batch: Parameters<Destination['send']>[0]): Promise<Outcome[]> {
      dest.requests++;
      dest.bytes += JSON.stringify({ data: batch.map((r) => r.row) }).length;
      return Promise.resolve(batch.map(() => ({ status: 'ok', httpStatus: 200 }) as Outcome));
    },
  };
  return dest;
}

async function seed(wh: DuckDbWarehouse): Promise<void> {
  const consent =
    'true AS consent_analytics, true AS consent_ads, true AS consent_ad_user_data, true AS consent_ad_personalization';
  await wh.exec('CREATE SCHEMA IF NOT EXISTS marts');
  await wh.exec(`CREATE OR REPLACE TABLE marts.audience_members AS SELECT 'high_value:p' || CAST(i AS VARCHAR) AS member_key,
    'high_value' AS audience_id, 'p' || CAST(i AS VARCHAR) AS person_id, NULL::VARCHAR AS user_id, sha256('m' || CAST(i AS VARCHAR)) AS email_sha256,
    sha256('t' || CAST(i AS VARCHAR)) AS phone_sha256, 'DE' AS country, now()::TIMESTAMP AS qualified_at, ${consent}, 'gcm' AS consent_source
    FROM range(${ROWS}) t(i)`);
  await wh.exec(`CREATE OR REPLACE TABLE marts.conversions AS SELECT 'T' || CAST(i AS VARCHAR) AS conversion_key, 'e' || CAST(i AS VARCHAR) AS event_id,
    'purchase' AS event_name, 'purchase' AS conversion_type, now()::TIMESTAMP - INTERVAL 1 HOUR AS occurred_at, 'T' || CAST(i AS VARCHAR) AS transaction_id,
    19.99 + (i % 100) AS value, 'EUR' AS currency, 'p' || CAST(i AS VARCHAR) AS person_id, 'a' || CAST(i AS VARCHAR) AS anonymous_id,
    sha256('m' || CAST(i AS VARCHAR)) AS email_sha256, 'fb.1.1700000000.' || CAST(i AS VARCHAR) AS fbc, '203.0.113.0' AS ip,
    'Mozilla/5.0 (X11; Linux x86_64)' AS user_agent, 'https://shop.example/checkout' AS page_url, 'DE' AS country, ${consent}, 'gcm' AS consent_source
    FROM range(${ROWS}) t(i)`);
}

interface Measured {
  name: string;
  rows: number;
  seconds: number;
  rowsPerSecond: number;
  peakRssMb: number;
  fillRatio: number;
  batches: number;
  batchSize: number;
  status: string;
  timings: RunResult['timings'];
  /** Peaks of the JavaScript heap, V8's external memory and DuckDB's duckdb_memory() during the run. */
  peaks: { heapMb: number; externalMb: number; duckdbMb: number; duckdbTempMb: number };
}

const MB = 1024 * 1024;

async function measure(wh: DuckDbWarehouse, name: string, fn: () => Promise<RunResult>): Promise<Measured> {
  if (global.gc) global.gc();
  let peak = process.memoryUsage().rss;
  const peaks = { heapMb: 0, externalMb: 0, duckdbMb: 0, duckdbTempMb: 0 };
  const started = process.hrtime.bigint();
  const trace: string[] = [];
  let sampling = false;
  let tick = 0;
  const timer = setInterval(() => {
    const mu = process.memoryUsage();
    peak = Math.max(peak, mu.rss);
    peaks.heapMb = Math.max(peaks.heapMb, Math.round(mu.heapUsed / MB));
    peaks.externalMb = Math.max(peaks.externalMb, Math.round(mu.external / MB));
    // duckdb_memory() takes DuckDB's time (10 ms a sample under load): every second, every 250 ms with --trace.
    if (sampling || ++tick % (TRACE ? 5 : 20) !== 0) return;
    sampling = true;
    // DuckDB's own accounting next to the process's: what memory_limit governs, and what it does not.
    void wh
      .memory()
      .then((m) => {
        peaks.duckdbMb = Math.max(peaks.duckdbMb, Math.round(m.usedBytes / MB));
        peaks.duckdbTempMb = Math.max(peaks.duckdbTempMb, Math.round(m.temporaryBytes / MB));
        if (TRACE) {
          const t = (Number(process.hrtime.bigint() - started) / 1e9).toFixed(1);
          trace.push(
            `${t}s rss ${Math.round(mu.rss / MB)} heap ${Math.round(mu.heapUsed / MB)} ext ${Math.round(mu.external / MB)} duckdb ${Math.round(m.usedBytes / MB)} temp ${Math.round(m.temporaryBytes / MB)}`,
          );
        }
      })
      .finally(() => (sampling = false));
  }, 50);
  const result = await fn();
  if (result.run.error) process.stderr.write(`${name}: ${result.run.status}: ${result.run.error}\n`);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  clearInterval(timer);
  if (TRACE) process.stderr.write(`${trace.join('\n')}\n`);
  peak = Math.max(peak, process.memoryUsage().rss);
  const mu = process.memoryUsage();
  process.stderr.write(
    `${name}: heap ${Math.round(mu.heapUsed / 1e6)} MB, external ${Math.round(mu.external / 1e6)} MB, rss ${Math.round(mu.rss / 1e6)} MB\n`,
  );
  return {
    name,
    rows: result.run.delivered,
    seconds: Math.round(seconds * 100) / 100,
    rowsPerSecond: Math.round(result.run.delivered / seconds),
    peakRssMb: Math.round(peak / 1024 / 1024),
    fillRatio: Math.round(result.stats.fillRatio * 1000) / 1000,
    batches: result.stats.batches,
    batchSize: result.stats.maxBatchSize,
    status: result.run.status,
    timings: result.timings,
    peaks,
  };
}

/** The measured runs, in the process that runs them; the warehouse in `dir` is already seeded. */
async function measureAll(dir: string): Promise<Measured[]> {
  // DuckDB gets a fixed memory budget and spills to <data dir>/tmp beyond it.
  const wh = await openLocalWarehouse(dir, {
    readOnly: false,
    memoryLimit: MEMORY_LIMIT,
    threads: THREADS,
    ...(ALLOCATOR_FLUSH ? { allocatorFlushThreshold: ALLOCATOR_FLUSH } : {}),
  });
  const common = {
    warehouse: wh,
    destinationConfig: {},
    http: () => Promise.reject(new Error('no HTTP')),
    logger: silentLogger,
    clock: systemClock,
  };
  // Limits as documented: Meta custom audience users 10,000 per request; Conversions API 1,000 events per request.
  // Deduplication as the vendors document it: audience adds/removes are idempotent, CAPI dedups on event_id.
  const audiences = fakeDestination(
    'fake-audiences',
    { maxBatchSize: 10_000, maxConcurrency: 4 },
    ['audience_add', 'audience_remove'],
    'idempotent',
  );
  const conversions = fakeDestination('fake-capi', { maxBatchSize: 1000, maxConcurrency: 4 }, ['events'], 'event_id');
  const mirror = parseSync({
    name: 'bench_mirror',
    source: 'audience_members',
    destination: 'fake-audiences',
    mode: 'mirror',
    maxDeletePercent: 100,
  });
  const append = parseSync({ name: 'bench_append', source: 'conversions', destination: 'fake-capi', mode: 'append' });
  const results: Measured[] = [];
  try {
    if (ONLY !== 'append') {
      results.push(
        await measure(wh, 'mirror 1M audience (adds)', () => runSync(mirror, { ...common, destination: audiences })),
      );
    }
    if (ONLY === 'mirror') return results;
    results.push(
      await measure(wh, 'append 1M conversions', () => runSync(append, { ...common, destination: conversions })),
    );
    if (ONLY === 'append') return results;
    // Incremental mirror: 2% leave, 2% join; the plan is a diff of 2M rows against the 1M snapshot.
    const churn = Math.round(ROWS * 0.02);
    await wh.exec(`DELETE FROM marts.audience_members WHERE CAST(substr(person_id, 2) AS BIGINT) < ${churn}`);
    await wh.exec(`INSERT INTO marts.audience_members SELECT 'high_value:q' || CAST(i AS VARCHAR), 'high_value', 'q' || CAST(i AS VARCHAR), NULL,
      sha256('q' || CAST(i AS VARCHAR)), NULL, 'DE', now()::TIMESTAMP, true, true, true, true, 'gcm' FROM range(${churn}) t(i)`);
    results.push(
      await measure(wh, `mirror incremental (${churn.toLocaleString()} adds + removes)`, () =>
        runSync(mirror, { ...common, destination: audiences }),
      ),
    );
    return results;
  } finally {
    await wh.close();
  }
}

async function main(): Promise<void> {
  const seedDir = flag('--seed-into');
  if (seedDir) {
    const seeding = await openLocalWarehouse(seedDir, { readOnly: false, memoryLimit: '1GB', threads: 2 });
    await seed(seeding);
    await seeding.close();
    return;
  }
  const measureDir = flag('--measure-in');
  if (measureDir) {
    process.stdout.write(JSON.stringify(await measureAll(measureDir)));
    return;
  }
  const loadAtStart = Math.round(os.loadavg()[0] * 100) / 100;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-bench-sync-'));
  // The marts are built in a child process, as the models would be: the memory it takes is not the sync's.
  process.stdout.write(`seeding ${ROWS.toLocaleString()} audience members and conversions in ${dir}\n`);
  execFileSync(process.execPath, [...process.execArgv, __filename, ...args, '--seed-into', dir], { stdio: 'inherit' });
  // The runs are measured in a plain Node process running this file bundled to JavaScript, as the installed CLI
  // runs the compiled build: under the TypeScript loader (tsx) the process starts ~60 MB larger.
  let results: Measured[];
  try {
    const bundle = path.join(dir, 'bench-sync.js');
    buildSync({
      entryPoints: [__filename],
      bundle: true,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      external: ['@duckdb/*', 'esbuild'],
      outfile: bundle,
      logLevel: 'warning',
    });
    const root = path.join(__dirname, '..', '..');
    const stdout = execFileSync(process.execPath, [bundle, ...args, '--measure-in', dir], {
      env: { ...process.env, NODE_PATH: path.join(root, 'node_modules') },
      stdio: ['ignore', 'pipe', 'inherit'],
      maxBuffer: 16 * 1024 * 1024,
    });
    results = JSON.parse(stdout.toString()) as Measured[];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }

  const header =
    '| run | rows | seconds | rows/s | peak RSS (MB) | batch size | batches | fill | plan / send / snapshot (s) |';
  const lines = [header, '|---|---:|---:|---:|---:|---:|---:|---:|---|'];
  for (const r of results) {
    lines.push(
      `| ${r.name} | ${r.rows.toLocaleString()} | ${r.seconds} | ${r.rowsPerSecond.toLocaleString()} | ${r.peakRssMb} | ${r.batchSize} | ${r.batches} | ${(r.fillRatio * 100).toFixed(1)}% | ${[r.timings.planMs, r.timings.sendMs, r.timings.snapshotMs].map((ms) => (ms / 1000).toFixed(1)).join(' / ')} |`,
    );
  }
  process.stdout.write(`\n${lines.join('\n')}\n\n`);
  const ok = results
    .filter((r) => !r.name.startsWith('mirror incremental'))
    .every((r) => r.rowsPerSecond >= 50_000 && r.peakRssMb < 300 && r.fillRatio >= 0.95 && r.status === 'ok');
  process.stdout.write(`targets (≥ 50,000 rows/s, RSS < 300 MB, batches ≥ 95% full): ${ok ? 'met' : 'NOT met'}\n`);
  // Only full-size runs of all three are the recorded figures; others (while profiling) just print.
  if (ROWS !== 1_000_000 || ONLY) return;
  const out = path.join(__dirname, '..', 'results');
  fs.mkdirSync(out, { recursive: true });
  fs.writeFileSync(
    path.join(out, 'sync.json'),
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        // The machine is shared: the 1-minute load average at the start and the end of the runs.
        loadAverage: [loadAtStart, Math.round(os.loadavg()[0] * 100) / 100],
        duckdb: { memoryLimit: MEMORY_LIMIT, threads: THREADS },
        process: 'node on the bundled benchmark (no TypeScript loader), as the installed CLI runs compiled JS',
        results,
      },
      null,
      2,
    )}\n`,
  );
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
  process.exit(1);
});
