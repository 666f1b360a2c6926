/**
 * Per-stage cost of the collector pipeline, in-process (no HTTP, no bus): parse, prepare (identity, consent,
 * enrichment, PII guard, validation), serialization and the embedded log's record encoding, for a /v1/batch of
 * 20 events and a GA4 hit.
 *   npx tsx bench/collector/pipeline-micro.ts [--rounds 9]
 * Each stage runs in short rounds interleaved with the others; the best round is reported (other processes on a
 * shared machine only ever add time), with its ratio to JSON.parse of the same batch measured in the same rounds.
 */
import type { HitContext } from '../../functions/collector/pipeline';
import { parseGa4 } from '../../functions/collector/protocols/ga4';
import { parseSegment } from '../../functions/collector/protocols/segment';
import { encodeRecord } from '../../src/bus/record';
import { eventAttributes } from '../../src/core/event';
import { offlinePipeline } from '../../functions/collector/protocols/pipeline-testing';

const args = process.argv.slice(2);
const at = args.indexOf('--rounds');
const ROUNDS = at >= 0 ? Number(args[at + 1]) : 9;
/** Length of one round of one stage. */
const ROUND_MS = 150;

const { pipeline } = offlinePipeline();
const now = new Date().toISOString();
const body = {
  writeKey: 'dev',
  sentAt: now,
  batch: Array.from({ length: 20 }, (_, i) => ({
    type: 'track',
    event: 'Product Viewed',
    messageId: `m-${i}`,
    anonymousId: 'anon-1',
    timestamp: now,
    properties: { product_id: `p-${i}`, price: 19.99, currency: 'EUR' },
    context: {
      consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: false },
      page: { url: 'https://shop.example.com/p/1?utm_source=bench' },
    },
  })),
};
const text = JSON.stringify(body);
const hit: HitContext = {
  requestId: 'r', receivedAt: new Date(), ip: '203.0.113.7',
  userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36',
  headers: {}, cookies: {}, host: 'localhost', gpc: false, method: 'POST', path: '/v1/batch',
}; // prettier-ignore

const segment = () =>
  parseSegment({
    call: 'batch',
    body: JSON.parse(text),
    basicAuthUser: null,
    receivedAt: new Date(),
    limits: { eventBytes: 32768 },
  });
const parsed = segment();
const prepared = pipeline.prepare(parsed.events, hit, 'segment', 'dev');
const query =
  'v=2&tid=G-BENCH01&cid=123.456&sid=1700000000&sct=1&seg=1&dl=https%3A%2F%2Fshop.example.com%2F&dt=Home&en=page_view&_et=12&gcs=G111&gcd=13r3r3r3r5&_p=1&_s=1';
const ga4 = () => parseGa4({ method: 'GET', query, body: null, receivedAt: new Date() });
const ga = ga4();

const stages: Array<[string, () => unknown]> = [
  ['JSON.parse batch(20)', () => JSON.parse(text)],
  ['parseSegment batch(20)', segment],
  ['prepare batch(20)', () => pipeline.prepare(parsed.events, hit, 'segment', 'dev')],
  ['stringify 20 events', () => prepared.accepted.map((e) => JSON.stringify(e))],
  [
    'log records for 20 events',
    () =>
      prepared.accepted.map((e) =>
        encodeRecord({ publishTimeMs: 0, attributes: eventAttributes(e), data: Buffer.from(JSON.stringify(e)) }),
      ),
  ],
  ['parseGa4 single', ga4],
  ['prepare ga4 single', () => pipeline.prepare(ga.events, hit, 'ga4', 'G-BENCH01')],
];

function round(fn: () => unknown): number {
  let n = 0;
  const t0 = process.hrtime.bigint();
  const end = t0 + BigInt(ROUND_MS * 1e6);
  let t = t0;
  while (t < end) {
    for (let i = 0; i < 10; i++) fn();
    n += 10;
    t = process.hrtime.bigint();
  }
  return Number(t - t0) / 1e3 / n;
}

const best = stages.map(() => Infinity);
for (let r = 0; r < ROUNDS; r++) {
  stages.forEach(([, fn], i) => {
    best[i] = Math.min(best[i], round(fn));
  });
}
process.stdout.write(`best of ${ROUNDS} rounds; ratio = stage / JSON.parse of the batch\n`);
stages.forEach(([label], i) => {
  process.stdout.write(
    `${label.padEnd(28)} ${best[i].toFixed(1).padStart(8)} µs/op  ${(best[i] / best[0]).toFixed(2)}\n`,
  );
});
