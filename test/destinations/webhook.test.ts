/** Webhook against the fake receiver: signing, batching, size splitting, retries, refusal of internal hosts. */
import webhook, { configSchema } from '../../destinations/webhook';
import { createWebhook } from '../../destinations/webhook';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeWebhook, type FakeWebhook } from '../fakes';
import { DEAD_ENDPOINT, FIXED_NOW, testContext } from './context';

const SECRET = 'webhook-test-secret-0123456789';
const record = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `k-${i}`,
  action: 'send',
  row: { event_id: `e-${i}`, value: i, ...extra },
});

describe('webhook against a receiver', () => {
  let fake: FakeWebhook;
  beforeEach(async () => {
    fake = await startFakeWebhook({ secret: SECRET, now: () => FIXED_NOW });
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({ endpoint: `${fake.url}/hook`, secret: SECRET, allowPrivateNetworks: true, ...extra });

  it('posts signed batches of batchSize records that the receiver verifies', async () => {
    const batch = Array.from({ length: 5 }, (_, i) => record(i));
    const outcomes = await webhook.send(batch, testContext(config({ batchSize: 2, headers: { 'x-api-key': 'abc' } })));
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'ok', 'ok', 'ok']);
    expect(fake.requests.map((r) => (r.json as { records: unknown[] }).records.length)).toEqual([2, 2, 1]);
    expect(fake.received.map((r) => r.key)).toEqual(['k-0', 'k-1', 'k-2', 'k-3', 'k-4']);
    expect(fake.received[3]).toEqual({ key: 'k-3', action: 'send', data: { event_id: 'e-3', value: 3 } });
    expect(fake.requests[0].headers['x-api-key']).toBe('abc');
    expect(fake.requests[0].headers['x-tagpipe-timestamp']).toBe(String(FIXED_NOW.getTime() / 1000));
  });

  it('is refused (401, not retried) when the secret differs', async () => {
    const outcomes = await webhook.send([record(1)], testContext(config({ secret: 'some-other-secret-value' })));
    expect(outcomes[0]).toMatchObject({ status: 'rejected', httpStatus: 401 });
    expect(outcomes[0]).not.toHaveProperty('wholeBatch');
    expect(fake.received).toHaveLength(0);
  });

  it('splits a batch whose body exceeds maxPayloadBytes and refuses a single record that is too large', async () => {
    const big = 'x'.repeat(600);
    const batch = [record(1, { big }), record(2, { big }), record(3, { big: 'x'.repeat(3000) }), record(4, { big })];
    const outcomes = await webhook.send(batch, testContext(config({ maxPayloadBytes: 2048 })));
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'rejected', 'ok']);
    expect(fake.received.map((r) => r.key)).toEqual(['k-1', 'k-2', 'k-4']);
    for (const request of fake.requests) expect(Buffer.byteLength(request.body)).toBeLessThanOrEqual(2048);
  });

  it('marks 413 from the receiver as a whole-batch rejection so the executor bisects', async () => {
    await fake.close();
    fake = await startFakeWebhook({ secret: SECRET, now: () => FIXED_NOW, maxBodyBytes: 100 });
    const outcomes = await webhook.send([record(1), record(2)], testContext(config()));
    expect(outcomes).toEqual([
      expect.objectContaining({ status: 'rejected', httpStatus: 413, wholeBatch: true }),
      expect.objectContaining({ status: 'rejected', httpStatus: 413, wholeBatch: true }),
    ]);
  });

  it('retries 429 with Retry-After and 5xx, and network failures', async () => {
    fake.respondNext({ status: 429, headers: { 'retry-after': '4' }, body: 'slow' }, { status: 503, body: 'down' });
    const ctx = testContext(config());
    expect((await webhook.send([record(1)], ctx))[0]).toMatchObject({
      status: 'retry',
      httpStatus: 429,
      retryAfterMs: 4000,
    });
    expect((await webhook.send([record(1)], ctx))[0]).toMatchObject({ status: 'retry', httpStatus: 503 });
    const dead = await webhook.send([record(1)], testContext(config({ endpoint: `${DEAD_ENDPOINT}/hook` })));
    expect(dead[0].status).toBe('retry');
    expect(fake.received).toHaveLength(0);
  });

  it('refuses loopback receivers unless allowPrivateNetworks is set, without sending anything', async () => {
    const outcomes = await webhook.send([record(1), record(2)], testContext(config({ allowPrivateNetworks: false })));
    expect(outcomes.map((o) => o.status)).toEqual(['rejected', 'rejected']);
    expect(outcomes[0]).toMatchObject({ reason: expect.stringMatching(/127\.0\.0\.1 \(loopback\)/) as unknown });
    expect(fake.requestCount).toBe(0);
  });

  it('refuses a public-looking name that resolves to the metadata address', async () => {
    const guarded = createWebhook(() => Promise.resolve(['169.254.169.254']));
    const outcomes = await guarded.send(
      [record(1)],
      testContext(configSchema.parse({ endpoint: 'https://hooks.example.com/x', secret: SECRET })),
    );
    expect(outcomes[0]).toMatchObject({ status: 'rejected', reason: expect.stringMatching(/linkLocal/) as unknown });
  });
});
