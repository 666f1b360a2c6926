/** HubSpot behavioral events against the fake: batches, whole-batch refusal of an unknown event, rate limit. */
import hubspotEvents, { configSchema } from '../../destinations/hubspot-events';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeHubspot, type FakeHubspot } from '../fakes';
import { FIXED_NOW, testContext } from './context';

const row = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `e-${i}`,
  action: 'send',
  row: {
    event_id: `e-${i}`,
    event_name: 'purchase',
    occurred_at: FIXED_NOW.toISOString(),
    email: `u${i}@example.com`,
    value: i,
    ...extra,
  },
});

describe('hubspot-events against the HubSpot fake', () => {
  let fake: FakeHubspot;
  beforeEach(async () => {
    fake = await startFakeHubspot({ knownEvents: ['pe42_purchase', 'pe42_signup'] });
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({
      accessToken: 'test-token',
      endpoint: fake.url,
      eventNames: { purchase: 'pe42_purchase', refund: 'pe42_refund' },
      properties: ['value'],
      ...extra,
    });

  it('sends 150 occurrences in batches of 100 with one identity each', async () => {
    const outcomes = await hubspotEvents.send(
      Array.from({ length: 150 }, (_, i) => row(i)),
      testContext(config()),
    );
    expect(outcomes.every((o) => o.status === 'ok' && o.httpStatus === 204)).toBe(true);
    expect(fake.requests.map((r) => (r.json as { inputs: unknown[] }).inputs.length)).toEqual([100, 50]);
    expect(fake.events[7]).toEqual({
      eventName: 'pe42_purchase',
      email: 'u7@example.com',
      occurredAt: FIXED_NOW.toISOString(),
      properties: { value: '7' },
    });
  });

  it('marks a batch with an event HubSpot does not know as whole-batch rejected', async () => {
    const outcomes = await hubspotEvents.send([row(1), row(2, { event_name: 'refund' })], testContext(config()));
    expect(outcomes.every((o) => o.status === 'rejected' && o.wholeBatch && o.httpStatus === 400)).toBe(true);
    expect(fake.events).toHaveLength(0);
    expect((await hubspotEvents.send([row(1)], testContext(config())))[0].status).toBe('ok');
  });

  it('retries 429 in the rate-limit window and rejects a bad token without bisection', async () => {
    fake.respondNext({
      status: 429,
      headers: { 'x-hubspot-ratelimit-interval-milliseconds': '10000' },
      body: { status: 'error', message: 'You have reached your secondly limit.', policyName: 'SECONDLY' },
    });
    expect((await hubspotEvents.send([row(1)], testContext(config())))[0]).toMatchObject({
      status: 'retry',
      retryAfterMs: 10_000,
    });
    const auth = await hubspotEvents.send([row(1)], testContext(config({ accessToken: 'nope' })));
    expect(auth[0]).toMatchObject({ status: 'rejected', httpStatus: 401 });
    expect(auth[0]).not.toHaveProperty('wholeBatch');
  });
});
