/**
 * Models benchmark: a full dbt run over N generated events, then an incremental run after +1% new events.
 * Reports seconds and events/s for each and the incremental/full ratio (target: ≤ 10%).
 *
 *   npx tsx bench/models/run.ts [--events 10000000] [--data-dir DIR] [--seed 1] [--threads 2] [--keep]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from '../gen';
import { runDbt } from '../../src/warehouse/dbt';

interface Args {
  events: number;
  dataDir: string | null;
  seed: number;
  threads: number;
  keep: boolean;
}

function parseArgs(argv: string[]): Args {
  const args: Args = { events: 10_000_000, dataDir: null, seed: 1, threads: 2, keep: false };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const value = argv[i + 1];
    if (flag === '--keep') args.keep = true;
    else if (flag === '--events') args.events = Number.parseInt(value, 10);
    else if (flag === '--data-dir') args.dataDir = value;
    else if (flag === '--seed') args.seed = Number.parseInt(value, 10);
    else if (flag === '--threads') args.threads = Number.parseInt(value, 10);
    else throw new Error(`unknown option ${flag}`);
    if (flag !== '--keep') i++;
  }
  if (!Number.isInteger(args.events) || args.events < 1000) throw new Error('--events must be an integer ≥ 1000');
  return args;
}

async function timedDbt(label: string, dbtArgs: string[], dataDir: string, threads: number): Promise<number> {
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
  return seconds;
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const dataDir = args.dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-bench-models-'));
  const days = 28;
  const increment = Math.max(1, Math.round(args.events / 100));
  const people = Math.round((args.events / 6.5) * 0.35);
  try {
    let t = Date.now();
    const base = await generate({
      seed: args.seed,
      events: args.events,
      people,
      dataDir,
      batch: 0,
      days,
      onProgress: (n) => process.stderr.write(`\rgenerating: ${n} rows`),
    });
    process.stderr.write(`\ngenerated ${base.rawRows} raw rows in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    const full = await timedDbt('full', ['run', '--full-refresh'], dataDir, args.threads);

    t = Date.now();
    const more = await generate({ seed: args.seed, events: increment, people, dataDir, batch: 1, days });
    process.stderr.write(`generated +${more.rawRows} raw rows in ${((Date.now() - t) / 1000).toFixed(1)} s\n`);
    const incremental = await timedDbt('incremental', ['run'], dataDir, args.threads);

    const result = {
      events: base.distinctEvents,
      rawRows: base.rawRows,
      fullSeconds: Number(full.toFixed(1)),
      fullEventsPerSecond: Math.round(base.rawRows / full),
      incrementalEvents: more.distinctEvents,
      incrementalSeconds: Number(incremental.toFixed(1)),
      incrementalShareOfFull: Number((incremental / full).toFixed(3)),
      threads: args.threads,
      cpus: os.cpus().length,
      node: process.version,
      at: new Date().toISOString(),
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
