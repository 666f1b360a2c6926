/**
 * Property: for any mix of sendable and unsendable rows and any batch size, every destination returns exactly one
 * outcome per record, in input order; locally refused rows never reach the vendor; the vendor receives the others
 * in order. Run against each vendor's fake.
 */
import fc from 'fast-check';
import ga4Mp from '../../destinations/ga4-mp';
import googleAds from '../../destinations/google-ads';
import hubspot from '../../destinations/hubspot';
import hubspotEvents from '../../destinations/hubspot-events';
import metaAudiences from '../../destinations/meta-audiences';
import metaCapi from '../../destinations/meta-capi';
import salesforce from '../../destinations/salesforce';
import tiktok from '../../destinations/tiktok';
import type { Destination, SyncRecord } from '../../src/core/destination';
import {
  startFakeDataManager,
  startFakeGa4,
  startFakeHubspot,
  startFakeMeta,
  startFakeSalesforce,
  startFakeTiktok,
  type FakeServer,
} from '../fakes';
import { FIXED_NOW, testContext } from './context';

interface Case {
  name: string;
  destination: Destination<unknown>;
  start: () => Promise<FakeServer>;
  config: (url: string, batchSize: number) => Record<string, unknown>;
  /** A record; `ok: false` makes it one the destination must refuse locally. */
  record: (i: number, ok: boolean) => SyncRecord;
  /** Keys of the records the fake received, in order. */
  received: (fake: FakeServer) => string[];
}

const recent = new Date(FIXED_NOW.getTime() - 3600_000).toISOString();
const conversion = (i: number, ok: boolean, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `k${i}`,
  action: 'send',
  row: {
    event_id: `k${i}`,
    transaction_id: `k${i}`,
    event_name: 'purchase',
    conversion_type: 'purchase',
    occurred_at: ok ? recent : '2020-01-01T00:00:00Z',
    value: i,
    currency: 'EUR',
    person_id: `p${i}`,
    anonymous_id: 'same.client',
    user_agent: 'Mozilla/5.0',
    page_url: 'https://shop.example.com/',
    gclid: `g${i}`,
    ...extra,
  },
});
const bodies = (fake: FakeServer) => fake.requests.map((r) => r.json as Record<string, unknown>);
const hex = (i: number) => i.toString(16).padStart(64, '0');

const cases: Case[] = [
  {
    name: 'meta-capi',
    destination: metaCapi as Destination<unknown>,
    start: () => startFakeMeta({ now: () => FIXED_NOW }),
    config: (url, batchSize) => ({ pixelId: '1', accessToken: 'test-token', endpoint: url, batchSize }),
    record: (i, ok) => conversion(i, ok),
    received: (fake) => bodies(fake).flatMap((b) => (b.data as { event_id: string }[]).map((e) => e.event_id)),
  },
  {
    name: 'tiktok',
    destination: tiktok as Destination<unknown>,
    start: () => startFakeTiktok(),
    config: (url, batchSize) => ({ pixelCode: 'P', accessToken: 'test-token', endpoint: url, batchSize }),
    // TikTok has no age limit: an unsendable row has no event id at all.
    record: (i, ok) => conversion(i, true, ok ? {} : { event_id: null, conversion_key: null }),
    received: (fake) => bodies(fake).flatMap((b) => (b.data as { event_id: string }[]).map((e) => e.event_id)),
  },
  {
    name: 'ga4-mp',
    destination: ga4Mp as Destination<unknown>,
    start: () => startFakeGa4({ now: () => FIXED_NOW }),
    config: (url, batchSize) => ({ measurementId: 'G-X1', apiSecret: 's', endpoint: url, batchSize }),
    record: (i, ok) => conversion(i, ok),
    received: (fake) =>
      bodies(fake).flatMap((b) =>
        (b.events as { params: { transaction_id: string } }[]).map((e) => e.params.transaction_id),
      ),
  },
  {
    name: 'google-ads',
    destination: googleAds as Destination<unknown>,
    start: () => startFakeDataManager(),
    config: (url, batchSize) => ({
      accessToken: 'test-token',
      endpoint: url,
      operatingAccountId: '1',
      conversionActionId: '2',
      batchSize,
    }),
    record: (i, ok) => conversion(i, true, ok ? {} : { gclid: null }),
    received: (fake) =>
      bodies(fake).flatMap((b) => (b.events as { transactionId: string }[]).map((e) => e.transactionId)),
  },
  {
    name: 'meta-audiences',
    destination: metaAudiences as Destination<unknown>,
    start: () => startFakeMeta(),
    config: (url, batchSize) => ({ accessToken: 'test-token', audienceId: '9', endpoint: url, batchSize }),
    record: (i, ok) => ({ key: `k${i}`, action: 'add', row: { audience_id: 'a', email_sha256: ok ? hex(i) : null } }),
    received: (fake) =>
      bodies(fake).flatMap((b) => (b.payload as { data: string[][] }).data.map((d) => `k${parseInt(d[0], 16)}`)),
  },
  {
    name: 'hubspot',
    destination: hubspot as Destination<unknown>,
    start: () => startFakeHubspot(),
    config: (url, batchSize) => ({ accessToken: 'test-token', endpoint: url, batchSize }),
    record: (i, ok) => ({
      key: `k${i}`,
      action: 'upsert',
      row: { email: ok ? `k${i}@example.com` : 'nope', firstname: 'A' },
    }),
    received: (fake) => bodies(fake).flatMap((b) => (b.inputs as { id: string }[]).map((x) => x.id.split('@')[0])),
  },
  {
    name: 'hubspot-events',
    destination: hubspotEvents as Destination<unknown>,
    start: () => startFakeHubspot(),
    config: (url, batchSize) => ({ accessToken: 'test-token', endpoint: url, eventName: 'pe1_purchase', batchSize }),
    record: (i, ok) => ({
      key: `k${i}`,
      action: 'send',
      row: { occurred_at: recent, email: ok ? `k${i}@example.com` : null },
    }),
    received: (fake) =>
      bodies(fake).flatMap((b) => (b.inputs as { email: string }[]).map((x) => x.email.split('@')[0])),
  },
  {
    name: 'salesforce',
    destination: salesforce as Destination<unknown>,
    start: () => startFakeSalesforce(),
    config: (url, batchSize) => ({ accessToken: 'test-token', endpoint: url, externalIdField: 'Ext__c', batchSize }),
    record: (i, ok) => ({ key: `k${i}`, action: 'upsert', row: { Ext__c: ok ? `k${i}` : null, LastName: 'L' } }),
    received: (fake) => bodies(fake).flatMap((b) => (b.records as { Ext__c: string }[]).map((r) => r.Ext__c)),
  },
];

describe.each(cases)('$name: one outcome per record, in order', ({ destination, start, config, record, received }) => {
  let fake: FakeServer;
  beforeAll(async () => {
    fake = await start();
  });
  afterAll(() => fake.close());

  it('holds for random batches', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }),
        fc.integer({ min: 1, max: 25 }),
        async (flags, batchSize) => {
          fake.requests.length = 0;
          const batch = flags.map((ok, i) => record(i, ok));
          const parsed = destination.configSchema.parse(config(fake.url, batchSize));
          const outcomes = await destination.send(batch, testContext(parsed));
          expect(outcomes).toHaveLength(batch.length);
          expect(outcomes.map((o) => o.status)).toEqual(flags.map((ok) => (ok ? 'ok' : 'rejected')));
          expect(received(fake)).toEqual(batch.filter((_, i) => flags[i]).map((r) => r.key));
          for (const request of fake.requests) expect(request.json).toBeDefined();
        },
      ),
      { numRuns: 15 },
    );
  });
});
