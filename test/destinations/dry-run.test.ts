/**
 * Dry-run: with the sync engine's outbox as the HTTP client, every destination counts its records as delivered
 * (the outbox's synthetic `200 {}` is not a vendor answer to classify) and the outbox holds the exact requests,
 * with credentials masked.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { getDestination } from '../../destinations';
import type { SyncRecord } from '../../src/core/destination';
import { createOutboxHttpClient, outboxFile } from '../../src/sync/outbox';
import { FIXED_NOW, testContext } from './context';

const conversion: SyncRecord = {
  key: 'T-1',
  action: 'send',
  row: {
    event_id: 'e-1',
    transaction_id: 'T-1',
    event_name: 'purchase',
    conversion_type: 'purchase',
    occurred_at: new Date(FIXED_NOW.getTime() - 60_000).toISOString(),
    value: 10,
    currency: 'EUR',
    anonymous_id: 'c.1',
    person_id: 'p-1',
    gclid: 'g-1',
    user_agent: 'Mozilla/5.0',
    page_url: 'https://shop.example.com/',
  },
};
const member: SyncRecord = { key: 'a:p-1', action: 'add', row: { audience_id: 'a', email_sha256: 'ab'.repeat(32) } };
const contact: SyncRecord = {
  key: 'p-1',
  action: 'upsert',
  row: { email: 'jane@example.com', Ext__c: 'p-1', LastName: 'Doe' },
};

const SECRET = 'very-secret-credential-123456';
const cases: [string, Record<string, unknown>, SyncRecord][] = [
  ['meta-capi', { pixelId: '1', accessToken: SECRET }, conversion],
  ['meta-audiences', { accessToken: SECRET, audienceId: '2' }, member],
  ['ga4-mp', { measurementId: 'G-X1', apiSecret: SECRET }, conversion],
  [
    'google-ads',
    { accessToken: SECRET, operatingAccountId: '1', conversionActionId: '2', userListId: '3' },
    conversion,
  ],
  ['tiktok', { pixelCode: 'P', accessToken: SECRET }, conversion],
  ['hubspot', { accessToken: SECRET, properties: [] }, contact],
  [
    'hubspot-events',
    { accessToken: SECRET, eventName: 'pe1_purchase' },
    { ...conversion, row: { ...conversion.row, email: 'jane@example.com' } },
  ],
  [
    'salesforce',
    {
      endpoint: 'https://acme.my.salesforce.com',
      accessToken: SECRET,
      externalIdField: 'Ext__c',
      fields: ['LastName'],
    },
    contact,
  ],
  ['webhook', { endpoint: 'https://hooks.example.com/x', secret: SECRET }, contact],
];

describe('destinations in dry-run', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-outbox-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it.each(cases)('%s: ok outcomes, the request in the outbox, no credential in it', async (name, raw, record) => {
    const destination = getDestination(name);
    if (!destination) throw new Error(name);
    const ctx = testContext(destination.configSchema.parse(raw));
    ctx.dryRun = true;
    ctx.http = createOutboxHttpClient({ outboxDir: dir, sync: name, destination: name, clock: ctx.clock });
    // The webhook's address check resolves DNS; skip it here (no network): its guard has its own tests.
    if (name === 'webhook') (ctx.config as { allowPrivateNetworks: boolean }).allowPrivateNetworks = true;
    // Two different records (HubSpot would retry a second row for the same contact).
    const second: SyncRecord = {
      ...record,
      key: `${record.key}-2`,
      row: { ...record.row, email: 'bob@example.com', Ext__c: 'p-2' },
    };
    if (!('email' in record.row)) delete second.row.email;
    const outcomes = await destination.send([record, second], ctx);
    expect(outcomes).toEqual([
      expect.objectContaining({ status: 'ok', requestId: 'dry-run' }),
      expect.objectContaining({ status: 'ok' }),
    ]);
    const lines = fs.readFileSync(outboxFile(dir, name), 'utf8').trim().split('\n');
    expect(lines).toHaveLength(1);
    const entry = JSON.parse(lines[0]) as { method: string; url: string; body: string };
    expect(entry.body.length).toBeGreaterThan(2);
    // Webhook signs with its secret but never sends it.
    expect(lines[0]).not.toContain(SECRET);
  });
});
