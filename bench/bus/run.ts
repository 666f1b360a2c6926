/**
 * Embedded bus benchmark (not a test): publish throughput and latency with group commit vs one write + fsync
 * per publish call, at several concurrency levels, with ~700-byte messages (a typical canonical event), plus the
 * lander's Parquet landing rate. Results go to bench/results/bus.md and the `## Bus` section of
 * docs/benchmarks.md.
 *   ./run bench bus [--seconds 3] [--dir /path/on/the/disk/to/measure]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { EmbeddedBus } from '../../src/bus/embedded';
import { startLander } from '../../src/warehouse/lander';
import { localPaths } from '../../src/warehouse/types';

const args = process.argv.slice(2);
const arg = (name: string, def: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] ? args[i + 1] : def;
};
const seconds = Number(arg('seconds', '3'));
const baseDir = arg('dir', os.tmpdir());
const root = path.resolve(__dirname, '../..');

const payload = Buffer.from(
  JSON.stringify({
    event_id: '6b0f3c1e-8a0e-4f4e-9d59-2f7c1b0a9e11',
    type: 'track',
    event: 'Order Completed',
    anonymous_id: 'a3f9c2d1-77aa-4e1b-b0cd-1234567890ab',
    timestamp: new Date().toISOString(),
    context: { page: { url: 'https://shop.example.com/checkout/thank-you?utm_source=news' }, locale: 'de-DE' },
    properties: {
      order_id: 'o-10001',
      total: 99.9,
      currency: 'EUR',
      products: [{ id: 'p-1', price: 49.95, quantity: 2 }],
    },
    consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: false, source: 'gcm' },
    schema_version: 1,
  }),
);
const attributes = {
  event_id: '6b0f3c1e',
  type: 'track',
  event: 'Order Completed',
  consent_ads: 'true',
  schema_version: '1',
};

interface Row {
  mode: string;
  concurrency: number;
  perSecond: number;
  p50: number;
  p99: number;
  perCommit: number;
}

async function measure(groupCommit: boolean, concurrency: number): Promise<Row> {
  const dir = fs.mkdtempSync(path.join(baseDir, 'tagpipe-bench-bus-'));
  const bus = await EmbeddedBus.open({ dir, groupCommit });
  const latencies: number[] = [];
  const until = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) {
        const t = process.hrtime.bigint();
        await bus.publish('events', [{ data: payload, attributes }]);
        latencies.push(Number(process.hrtime.bigint() - t) / 1e6);
      }
    }),
  );
  const stats = bus.log('events').stats;
  await bus.close();
  fs.rmSync(dir, { recursive: true, force: true });
  latencies.sort((a, b) => a - b);
  return {
    mode: groupCommit ? 'group commit' : 'fsync per publish',
    concurrency,
    perSecond: Math.round(latencies.length / seconds),
    p50: latencies[Math.floor(latencies.length * 0.5)],
    p99: latencies[Math.floor(latencies.length * 0.99)],
    perCommit: stats.records / Math.max(1, stats.commits),
  };
}

async function landerRate(): Promise<{ rows: number; perSecond: number }> {
  const dataDir = fs.mkdtempSync(path.join(baseDir, 'tagpipe-bench-lander-'));
  const bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
  const total = 100_000;
  for (let i = 0; i < total; i += 1000) {
    await bus.publish(
      'events',
      Array.from({ length: 1000 }, () => ({ data: payload, attributes })),
    );
  }
  const start = Date.now();
  const lander = await startLander({ bus, dataDir, batchSize: 5000, maxWaitMs: 50 });
  while (lander.stats().rows < total) await new Promise((r) => setTimeout(r, 20));
  const ms = Date.now() - start;
  await lander.close();
  await bus.close();
  fs.rmSync(dataDir, { recursive: true, force: true });
  return { rows: total, perSecond: Math.round((total / ms) * 1000) };
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  for (const concurrency of [1, 16, 64, 256]) {
    for (const group of [false, true]) {
      const row = await measure(group, concurrency);
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  const landing = await landerRate();
  console.log(JSON.stringify({ lander: landing }));

  const fmt = (n: number) => n.toFixed(2);
  const table = [
    '| mode | concurrent publishers | messages/s | p50 ms | p99 ms | messages per fsync |',
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map(
      (r) =>
        `| ${r.mode} | ${r.concurrency} | ${r.perSecond} | ${fmt(r.p50)} | ${fmt(r.p99)} | ${r.perCommit.toFixed(1)} |`,
    ),
  ].join('\n');
  const section = [
    '## Bus',
    '',
    `Embedded log, one message (${payload.length + JSON.stringify(attributes).length} bytes) per publish call, ` +
      `${seconds} s per row, on ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), ` +
      `${baseDir}, ${new Date().toISOString().slice(0, 10)}. Shared machine: compare rows, not absolute numbers. ` +
      'Reproduce with `./run bench bus`.',
    '',
    table,
    '',
    `Lander: ${landing.rows} events from the log into Parquet at ${landing.perSecond} rows/s (batches of 5000).`,
    '',
  ].join('\n');
  fs.mkdirSync(path.join(root, 'bench', 'results'), { recursive: true });
  fs.writeFileSync(path.join(root, 'bench', 'results', 'bus.md'), `${section}\n`);
  const docs = path.join(root, 'docs', 'benchmarks.md');
  const existing = fs.existsSync(docs) ? fs.readFileSync(docs, 'utf8') : '# Benchmarks\n\n';
  // Replace our own section only; other sections stay as they are.
  const re = /## Bus\n[\s\S]*?(?=\n## |$)/;
  const updated = re.test(existing) ? existing.replace(re, section) : `${existing.trimEnd()}\n\n${section}`;
  fs.writeFileSync(docs, updated.endsWith('\n') ? updated : `${updated}\n`);
  console.log(`wrote bench/results/bus.md and the ## Bus section of docs/benchmarks.md`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
