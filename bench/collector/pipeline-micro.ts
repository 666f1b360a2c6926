/**
 * Per-stage cost of the collector pipeline, in-process (no HTTP, no bus): parse, prepare (identity, consent,
 * enrichment, PII guard, validation) and serialization, for a /v1/batch of 20 events and a GA4 hit.
 *   npx tsx bench/collector/pipeline-micro.ts
 */
import { parseConfig } from '../../src/core/config';
import { silentLogger } from '../../src/core/logger';
import { CollectorMetrics } from '../../functions/collector/metrics';
import { CollectorPipeline, type HitContext } from '../../functions/collector/pipeline';
import { parseGa4 } from '../../functions/collector/protocols/ga4';
import { parseSegment } from '../../functions/collector/protocols/segment';
import type { EventBus } from '../../src/bus/types';

const config = parseConfig({ TAGPIPE_LOG_LEVEL: 'silent' }, { cwd: '/tmp' });
const pipeline = new CollectorPipeline({
  config,
  bus: {} as EventBus,
  logger: silentLogger,
  metrics: new CollectorMetrics(),
});
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

function time(label: string, n: number, fn: () => unknown): void {
  for (let i = 0; i < Math.min(n, 200); i++) fn();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) fn();
  const us = Number(process.hrtime.bigint() - t0) / 1e3 / n;
  process.stdout.write(`${label.padEnd(36)} ${us.toFixed(1)} µs/op\n`);
}

const parsed = parseSegment({
  call: 'batch',
  body: JSON.parse(text),
  basicAuthUser: null,
  receivedAt: new Date(),
  limits: { eventBytes: 32768 },
});
const prepared = pipeline.prepare(parsed.events, hit, 'segment', 'dev');
time('JSON.parse batch(20)', 2000, () => JSON.parse(text));
time('parseSegment batch(20)', 2000, () =>
  parseSegment({
    call: 'batch',
    body: JSON.parse(text),
    basicAuthUser: null,
    receivedAt: new Date(),
    limits: { eventBytes: 32768 },
  }),
);
time('prepare batch(20)', 2000, () => pipeline.prepare(parsed.events, hit, 'segment', 'dev'));
time('stringify 20 events', 2000, () => prepared.accepted.map((e) => JSON.stringify(e)));
const q = new URLSearchParams(
  'v=2&tid=G-BENCH01&cid=123.456&sid=1700000000&sct=1&seg=1&dl=https%3A%2F%2Fshop.example.com%2F&dt=Home&en=page_view&_et=12&gcs=G111&gcd=13r3r3r3r5&_p=1&_s=1',
);
time('parseGa4 single', 5000, () => parseGa4({ method: 'GET', query: q, body: null, receivedAt: new Date() }));
const ga = parseGa4({ method: 'GET', query: q, body: null, receivedAt: new Date() });
time('prepare ga4 single', 5000, () => pipeline.prepare(ga.events, hit, 'ga4', 'G-BENCH01'));
