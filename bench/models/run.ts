/**
 * Models benchmark: a full dbt run over N generated events, then an incremental run after +1% new events.
 * Reports seconds and events/s for each and the incremental/full ratio (target: ≤ 10%).
 *
 *   npx tsx bench/models/run.ts [--events 10000000] [--data-dir DIR] [--seed 1] [--threads 2] [--keep] [--reuse]
 *
 * --reuse keeps the batch-0 raw files already generated in --data-dir (same --events and --seed) and starts over
 * from them: later batches' raw files and the warehouse file are removed, so the full run builds every model from
 * scratch. Generating 10M events takes minutes; the models are what is measured.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { generate } from '../gen';
import { runDbt } from '../../src/warehouse/dbt';
import { localPaths } from '../../src/warehouse/types';

interface Args {
  events: number;
  dataDir: string | null;
  seed: number;
  threads: number;
  keep: boolean;
  reuse: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { events: 10_000_000, dataDir: null, seed: 1, threads: 2, keep: false, reuse: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--keep') args.keep = true;
    else if (flag === '--reuse') args.reuse = true;
    else if (flag === '--events') args.events = Number.parseInt(value, 10);
    else if (flag === '--data-dir') args.dataDir = value;
    else if (flag === '--seed') args.seed = Number.parseInt(value, 10);
    else if (flag === '--threads') args.threads = Number.parseInt(value, 10);
    else throw new Error(`unknown option ${flag}`);
    if (flag !== '--keep' && flag !== '--reuse') i++;
  }
  if (!Number.isInteger(args.events) || args.events < 1000) throw new Error('--events must be an integer ≥ 1000');
  if (args.reuse && !args.dataDir) throw new Error('--reuse needs --data-dir');
  return args;
}

/** Raw files the generator wrote for a batch (FILENAME_PATTERN in bench/gen). */
const batchOf = (file: string): number | null => {
  const m = /^gen-s\d+-b(\d+)-/.exec(file);
  return m ? Number(m[1]) : null;
};

/**
 * Prepares a kept data dir for a fresh measurement: removes raw files of batches ≥ 1 and the warehouse, keeps batch
 * 0. Returns batch 0's raw row count, or null when the dir holds no batch-0 files of this seed (generate instead).
 */
async function resetForReuse(dataDir: string, seed: number): Promise<number | null> {
  const paths = localPaths(dataDir);
  const eventsDir = paths.rawTable('events');
  if (!fs.existsSync(eventsDir)) return null;
  let batch0Files = 0;
  for (const table of ['events', 'events_invalid'] as const) {
    const tableDir = paths.rawTable(table);
    if (!fs.existsSync(tableDir)) continue;
    for (const entry of fs.readdirSync(tableDir, { withFileTypes: true, recursive: true })) {
      if (!entry.isFile()) continue;
      const batch = batchOf(entry.name);
      if (batch === null) continue;
      if (batch > 0) fs.rmSync(path.join(entry.parentPath, entry.name));
      else if (table === 'events' && entry.name.startsWith(`gen-s${seed}-`)) batch0Files++;
    }
    for (const dir of fs.readdirSync(tableDir, { withFileTypes: true })) {
      const full = path.join(tableDir, dir.name);
      if (dir.isDirectory() && fs.readdirSync(full).length === 0) fs.rmdirSync(full);
    }
  }
  if (batch0Files === 0) return null;
  for (const file of [paths.warehouse, `${paths.warehouse}.wal`]) fs.rmSync(file, { force: true });
  const instance = await DuckDBInstance.create(':memory:');
  const connection = await instance.connect();
  try {
    // Parquet footers hold the row counts: no data is read.
    const reader = await connection.runAndReadAll(
      `SELECT count(*) FROM read_parquet('${paths.rawGlob('events').replace(/'/g, "''")}', hive_partitioning = false)`,
    );
    return Number(reader.getRows()[0][0]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** Distinct events in the warehouse after the full run (what --reuse cannot take from the generator). */
async function storedEvents(dataDir: string): Promise<number> {
  const instance = await DuckDBInstance.create(localPaths(dataDir).warehouse, { access_mode: 'READ_ONLY' });
  const connection = await instance.connect();
  try {
    const reader = await connection.runAndReadAll('SELECT count(*) FROM marts_intermediate.int_events_deduped');
    return Number(reader.getRows()[0][0]);
  } finally {
    connection.closeSync();
    instance.closeSync();
  }
}

/** dbt's own per-model seconds of the last invocation (run_results.json), slowest first. */
function modelSeconds(targetPath: string): Record<string, number> {
  const results = JSON.parse(fs.readFileSync(path.join(targetPath, 'run_results.json'), 'utf8')) as {
    results: { unique_id: string; execution_time: number }[];
  };
  const sorted = [...results.results].sort((a, b) => b.execution_time - a.execution_time);
  return Object.fromEntries(
    sorted.map((r) => [r.unique_id.replace(/^model\.tagpipe\./, ''), Number(r.execution_time.toFixed(2))]),
  );
}

interface Timed {
  seconds: number;
  models: Record<string, number>;
}

async function timedDbt(label: string, dbtArgs: string[], dataDir: string, threads: number): Promise<Timed> {
  const started = process.hrtime.bigint();
  const tail: string[] = [];
  const result = await runDbt(dbtArgs, {
    dataDir,
    env: { ...process.env, DBT_THREADS: String(threads) },
    onLine: (line) => {
      tail.push(line);
      if (tail.length > 40) tail.shift();
      if (/ OK created | ERROR /.test(line)) process.stderr.write(`  ${label}: ${line.replace(/^\S+\s+/, '')}\n`);
    },
  });
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.code !== 0) throw new Error(`dbt ${dbtArgs.join(' ')} failed (${result.code}):\n${tail.join('\n')}`);
  return { seconds, models: modelSeconds(result.targetPath) };
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dataDir = args.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-bench-models-'));
  const days = 28;
  const increment = Math.max(1, Math.round(args.events / 100));
  const people = Math.round((args.events / 6.5) * 0.35);
  try {
    let t = Date.now();
    const reusedRows = args.reuse ? await resetForReuse(dataDir, args.seed) : null;
    let base: { rawRows: number; distinctEvents: number | null };
    if (reusedRows !== null) {
      process.stderr.write(`reusing ${reusedRows} raw rows of batch 0 in ${dataDir}\n`);
      base = { rawRows: reusedRows, distinctEvents: null };
    } else {
      base = await generate({
        seed: args.seed,
        events: args.events,
        people,
        dataDir,
        batch: 0,
        days,
        onProgress: (n) => process.stderr.write(`\rgenerating: ${n} rows`),
      });
      process.stderr.write(`\ngenerated ${base.rawRows} raw rows in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    }
    const loadBefore = os.loadavg();
    const fullRun = await timedDbt('full', ['run', '--full-refresh'], dataDir, args.threads);
    base.distinctEvents ??= await storedEvents(dataDir);

    t = Date.now();
    const more = await generate({ seed: args.seed, events: increment, people, dataDir, batch: 1, days });
    process.stderr.write(`generated +${more.rawRows} raw rows in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    const incrementalRun = await timedDbt('incremental', ['run'], dataDir, args.threads);
    const full = fullRun.seconds;
    const incremental = incrementalRun.seconds;

    const result = {
      events: base.distinctEvents,
      rawRows: base.rawRows,
      fullSeconds: Number(full.toFixed(1)),
      fullEventsPerSecond: Math.round(base.rawRows / full),
      incrementalEvents: more.distinctEvents,
      incrementalSeconds: Number(incremental.toFixed(1)),
      incrementalShareOfFull: Number((incremental / full).toFixed(3)),
      threads: args.threads,
      reused: reusedRows !== null,
      loadAverage1mBefore: Number(loadBefore[0].toFixed(2)),
      loadAverage1mAfter: Number(os.loadavg()[0].toFixed(2)),
      cpus: os.cpus().length,
      node: process.version,
      at: new Date().toISOString(),
      incrementalModelSeconds: incrementalRun.models,
    };
    process.stdout.write(JSON.stringify(result) + '\n');
  } finally {
    if (!args.keep && !args.dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench models: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
});
