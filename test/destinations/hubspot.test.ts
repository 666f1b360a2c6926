/** HubSpot contacts batch upsert against the fake: per-input errors, whole-request errors, rate limit, batching. */
import hubspot, { configSchema } from '../../destinations/hubspot';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeHubspot, type FakeHubspot } from '../fakes';
import { DEAD_ENDPOINT, testContext } from './context';

const user = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `p-${i}`,
  action: 'upsert',
  row: { email: `user${i}@example.com`, firstname: `User${i}`, tagpipe_purchase_count: i, ...extra },
});

describe('hubspot against the CRM fake', () => {
  let fake: FakeHubspot;
  beforeEach(async () => {
    fake = await startFakeHubspot();
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({ accessToken: 'test-token', endpoint: fake.url, ...extra });

  it('upserts 250 contacts in batches of 100 on the date-versioned path, and updates on a second run', async () => {
    const batch = Array.from({ length: 250 }, (_, i) => user(i));
    expect((await hubspot.send(batch, testContext(config()))).every((o) => o.status === 'ok')).toBe(true);
    expect(fake.requests.map((r) => (r.json as { inputs: unknown[] }).inputs.length)).toEqual([100, 100, 50]);
    expect(fake.requests[0].path).toBe('/crm/objects/2026-03/contacts/batch/upsert');
    await hubspot.send([user(7, { firstname: 'Renamed', lastname: 'Smith' })], testContext(config()));
    expect(fake.contacts.size).toBe(250);
    expect(fake.contacts.get('user7@example.com')).toMatchObject({
      firstname: 'Renamed',
      lastname: 'Smith',
      tagpipe_purchase_count: '7',
    });
  });

  it('rejects only the input HubSpot names in errors[] (207)', async () => {
    // HubSpot's email check is stricter than the local shape check: script its 207 for an address it refuses.
    const cfg = config();
    const batch = [user(1), user(2, { email: 'two@example.com' }), user(3)];
    const outcomes = await hubspot.send(batch, testContext(cfg));
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'ok']);
    fake.respondNext({
      status: 207,
      body: {
        status: 'COMPLETE',
        results: [{ properties: { email: 'user1@example.com' } }, { properties: { email: 'user3@example.com' } }],
        errors: [
          {
            status: 'error',
            category: 'VALIDATION_ERROR',
            message: 'Email address two@example.com is invalid',
            context: { ids: ['two@example.com'] },
          },
        ],
        numErrors: 1,
      },
    });
    const partial = await hubspot.send(batch, testContext(cfg));
    expect(partial.map((o) => o.status)).toEqual(['ok', 'rejected', 'ok']);
    expect(partial[1]).toMatchObject({ vendorCode: 'VALIDATION_ERROR', httpStatus: 207 });
  });

  it('fails the whole request for an unknown property and marks it for bisection', async () => {
    const outcomes = await hubspot.send([user(1), user(2, { favourite_colour: 'blue' })], testContext(config()));
    expect(outcomes.every((o) => o.status === 'rejected' && o.wholeBatch === true && o.httpStatus === 400)).toBe(true);
    expect(fake.contacts.size).toBe(0);
    // Bisected halves: the good row lands, the bad one is rejected again.
    expect((await hubspot.send([user(1)], testContext(config())))[0].status).toBe('ok');
  });

  it('retries a second row for the same email instead of sending it in the batch (HubSpot refuses duplicate ids)', async () => {
    const batch = [user(1), user(2), user(1, { firstname: 'Again' }), user(3, { email: 'USER2@example.com' })];
    const outcomes = await hubspot.send(batch, testContext(config()));
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'retry', 'retry']);
    expect(outcomes[2]).toMatchObject({ reason: 'another row in this batch upserts email user1@example.com' });
    expect(fake.contacts.size).toBe(2);
    // The retry, alone, is an update.
    expect((await hubspot.send([batch[2]], testContext(config())))[0].status).toBe('ok');
    expect(fake.contacts.get('user1@example.com')).toMatchObject({ firstname: 'Again' });
  });

  it('is refused above 100 inputs by the fake', async () => {
    await fake.close();
    fake = await startFakeHubspot({ maxInputs: 2 });
    const outcomes = await hubspot.send([user(1), user(2), user(3)], testContext(config()));
    expect(outcomes[0]).toMatchObject({
      status: 'rejected',
      httpStatus: 400,
      wholeBatch: true,
      reason: expect.stringMatching(/exceeds the limit of 2/) as unknown,
    });
  });

  it('answers 429 after 190 requests in 10 s with the window in the outcome', async () => {
    await fake.close();
    fake = await startFakeHubspot({ rateLimitPer10s: 3, now: () => 1_000_000 });
    const ctx = testContext(config());
    for (let i = 0; i < 3; i++) expect((await hubspot.send([user(i)], ctx))[0].status).toBe('ok');
    const limited = await hubspot.send([user(9)], ctx);
    expect(limited[0]).toMatchObject({
      status: 'retry',
      httpStatus: 429,
      retryAfterMs: 10_000,
      vendorCode: 'SECONDLY',
    });
  });

  it('rejects a bad token without bisection and retries 5xx and network failures', async () => {
    const auth = await hubspot.send([user(1)], testContext(config({ accessToken: 'wrong' })));
    expect(auth[0]).toMatchObject({ status: 'rejected', httpStatus: 401, vendorCode: 'INVALID_AUTHENTICATION' });
    expect(auth[0]).not.toHaveProperty('wholeBatch');
    fake.respondNext({ status: 503, body: { status: 'error', message: 'down' } });
    expect((await hubspot.send([user(1)], testContext(config())))[0]).toMatchObject({
      status: 'retry',
      httpStatus: 503,
    });
    expect((await hubspot.send([user(1)], testContext(config({ endpoint: DEAD_ENDPOINT }))))[0].status).toBe('retry');
  });
});
