/** Meta custom audiences against the Graph API fake: adds, removes, batching, auth. */
import metaAudiences, { configSchema } from '../../destinations/meta-audiences';
import type { SyncRecord } from '../../src/core/destination';
import { startFakeMeta, type FakeMeta } from '../fakes';
import { testContext } from './context';

const hex = (i: number) => i.toString(16).padStart(64, '0');
const member = (i: number, action: 'add' | 'remove', audience = 'vip'): SyncRecord => ({
  key: `${audience}:p-${i}`,
  action,
  row: { member_key: `${audience}:p-${i}`, audience_id: audience, person_id: `p-${i}`, email_sha256: hex(i) },
});

describe('meta-audiences against the Graph API fake', () => {
  let fake: FakeMeta;
  beforeEach(async () => {
    fake = await startFakeMeta();
  });
  afterEach(() => fake.close());
  const config = (extra: Record<string, unknown> = {}) =>
    configSchema.parse({
      accessToken: 'test-token',
      audiences: { vip: '111', cart: '222' },
      endpoint: fake.url,
      ...extra,
    });

  it('adds and removes members per audience, with one outcome per record in order', async () => {
    const ctx = testContext(config());
    await metaAudiences.send([member(1, 'add'), member(2, 'add'), member(3, 'add'), member(1, 'add', 'cart')], ctx);
    const outcomes = await metaAudiences.send([member(2, 'remove'), member(4, 'add'), member(5, 'add', 'nope')], ctx);
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'ok', 'rejected']);
    expect([...(fake.audiences.get('111')?.values() ?? [])].map((m) => m.EMAIL_SHA256)).toEqual([
      hex(1),
      hex(3),
      hex(4),
    ]);
    expect([...(fake.audiences.get('222')?.values() ?? [])].map((m) => m.EMAIL_SHA256)).toEqual([hex(1)]);
    expect(fake.requests.map((r) => `${r.method} ${r.path}`)).toEqual([
      'POST /v25.0/111/users',
      'POST /v25.0/222/users',
      'DELETE /v25.0/111/users',
      'POST /v25.0/111/users',
    ]);
  });

  it('splits 25,000 members into requests of at most 10,000', async () => {
    const batch = Array.from({ length: 25_000 }, (_, i) => member(i, 'add'));
    const outcomes = await metaAudiences.send(batch, testContext(config()));
    expect(outcomes.every((o) => o.status === 'ok')).toBe(true);
    expect(fake.requests.map((r) => (r.json as { payload: { data: unknown[] } }).payload.data.length)).toEqual([
      10_000, 10_000, 5_000,
    ]);
    expect(fake.audiences.get('111')?.size).toBe(25_000);
  });

  it('is refused by the fake above 10,000 members, and rejects on a bad token without bisection', async () => {
    await fake.close();
    fake = await startFakeMeta({ maxAudienceRows: 2 });
    const over = await metaAudiences.send(
      [member(1, 'add'), member(2, 'add'), member(3, 'add')],
      testContext(config()),
    );
    expect(over.map((o) => o.status)).toEqual(['rejected', 'rejected', 'rejected']);
    expect(over[0]).toMatchObject({ vendorCode: '100', wholeBatch: true });
    const token = await metaAudiences.send([member(1, 'add')], testContext(config({ accessToken: 'wrong' })));
    expect(token[0]).toMatchObject({ status: 'rejected', vendorCode: '190' });
    expect(token[0]).not.toHaveProperty('wholeBatch');
    expect(fake.audiences.size).toBe(0);
  });
});
