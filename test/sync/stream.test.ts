import { parseConfig } from '../../src/core/config';
import type { Destination, Outcome } from '../../src/core/destination';
import { silentLogger } from '../../src/core/logger';
import { canonicalEventSchema, type CanonicalEvent } from '../../src/core/event';
import { Ledger } from '../../src/sync/ledger';
import { dialectFor } from '../../src/sync/sql';
import { createStreamSync } from '../../src/sync/stream';
import { serveStreamSync } from '../../src/cli/sync';
import { openLocalWarehouse } from '../../src/warehouse/duckdb';
import { FakeClock, NOW, tempDir, testDestination } from './helpers';

function event(over: Partial<CanonicalEvent> = {}): CanonicalEvent {
  return canonicalEventSchema.parse({
    event_id: 'evt-1',
    type: 'track',
    event: 'Order Completed',
    anonymous_id: 'anon-1',
    user_id: 'u-1',
    timestamp: '2026-03-10T11:59:00.000Z',
    received_at: '2026-03-10T11:59:01.000Z',
    source: { id: 'web', protocol: 'segment' },
    context: {
      ip: '203.0.113.0',
      user_agent: 'Mozilla/5.0',
      page: { url: 'https://shop.example/thanks' },
      click_ids: { fbc: 'fb.1.1.abc' },
    },
    properties: { order_id: 'T-100', revenue: 42.5, currency: 'eur', products: [{ product_id: 'sku1', price: 42.5 }] },
    traits: {},
    consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true, source: 'gcm' },
    identifiers: { email_sha256: 'a'.repeat(64) },
    schema_version: 1,
    ...over,
  });
}

function envelope(e: unknown, messageId = 'm-1') {
  return {
    message: {
      data: Buffer.from(JSON.stringify(e)).toString('base64'),
      attributes: { event: 'Order Completed' },
      messageId,
    },
    subscription: 'projects/p/subscriptions/stream-sync',
  };
}

function setup(respond?: Parameters<typeof testDestination>[0]['respond'], dedup?: Destination['dedup']) {
  const dir = tempDir();
  const dest = testDestination({ respond, dedup });
  const config = parseConfig(
    {},
    {
      file: null,
      cwd: dir,
      overrides: {
        dataDir: dir,
        syncs: [
          {
            name: 'live',
            source: 'conversions',
            destination: 'test-dest',
            mode: 'append',
            cadence: 'stream',
            events: ['Order Completed', 'purchase'],
          },
          { name: 'nightly', source: 'conversions', destination: 'test-dest', mode: 'append', cadence: '0 3 * * *' },
        ],
      },
    },
  );
  const handler = createStreamSync(config, {
    logger: silentLogger,
    clock: new FakeClock(),
    registry: { 'test-dest': dest as Destination<unknown> },
    openWarehouse: () => openLocalWarehouse(dir, { readOnly: false }),
  });
  const ledger = async () => {
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    const rows = await wh.query<Record<string, unknown>>(
      `SELECT "key", outcome, event_id, attempts, vendor_error, consent_basis FROM _tagpipe.delivery_ledger ORDER BY "at", attempts, outcome <> 'pending'`,
    );
    await wh.close();
    return rows;
  };
  return { dir, dest, config, handler, ledger };
}

describe('stream sync (Pub/Sub push)', () => {
  test('sends the event as a conversions row, records it, and acknowledges a redelivery without resending', async () => {
    const { dest, handler, ledger } = setup();
    expect(handler.syncs.map((s) => s.name)).toEqual(['live']);
    const first = await handler.handlePush(envelope(event()));
    expect(first).toMatchObject({ status: 200, body: { ok: true, results: [{ sync: 'live', status: 'sent' }] } });
    expect(dest.calls).toHaveLength(1);
    expect(dest.calls[0].records[0]).toMatchObject({
      key: 'T-100',
      action: 'send',
      row: {
        conversion_key: 'T-100',
        event_id: 'evt-1',
        conversion_type: 'purchase',
        transaction_id: 'T-100',
        value: 42.5,
        currency: 'EUR',
        email_sha256: 'a'.repeat(64),
        fbc: 'fb.1.1.abc',
        page_url: 'https://shop.example/thanks',
        consent_ads: true,
      },
    });
    const again = await handler.handlePush(envelope(event(), 'm-1'));
    expect(again).toMatchObject({ status: 200, body: { results: [{ status: 'duplicate' }] } });
    expect(dest.calls).toHaveLength(1);
    expect(await ledger()).toEqual([
      {
        key: 'T-100',
        outcome: 'pending',
        event_id: 'evt-1',
        attempts: 1,
        vendor_error: null,
        consent_basis: 'gcm:ads',
      },
      { key: 'T-100', outcome: 'ok', event_id: 'evt-1', attempts: 1, vendor_error: null, consent_basis: 'gcm:ads' },
    ]);
  });

  test('a retryable failure answers 503 (Pub/Sub redelivers); the redelivery succeeds', async () => {
    let call = 0;
    const { handler, ledger } = setup((records) =>
      records.map(
        () =>
          (call++ === 0
            ? { status: 'retry', reason: 'HTTP 429', httpStatus: 429, retryAfterMs: 5000 }
            : { status: 'ok' }) as Outcome,
      ),
    );
    const first = await handler.handlePush(envelope(event()));
    expect(first).toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
    const second = await handler.handlePush(envelope(event()));
    expect(second.status).toBe(200);
    expect((await ledger()).map((r) => [r.outcome, r.attempts])).toEqual([
      ['pending', 1],
      ['retry', 1],
      ['pending', 2],
      ['ok', 2],
    ]);
  });

  test('a permanent rejection is acknowledged and recorded with its reason', async () => {
    const { handler, ledger } = setup((records) =>
      records.map(() => ({ status: 'rejected', reason: 'event_time too old', httpStatus: 400, vendorCode: '2804003' })),
    );
    expect((await handler.handlePush(envelope(event()))).status).toBe(200);
    expect((await ledger()).at(-1)).toMatchObject({ outcome: 'rejected', vendor_error: '2804003: event_time too old' });
  });

  test('no ads consent, or an event the sync does not select: acknowledged, nothing sent', async () => {
    const { dest, handler } = setup();
    const noConsent = event({
      consent: { analytics: true, ads: false, ad_user_data: false, ad_personalization: false, source: 'tcf' },
    });
    expect(await handler.handlePush(envelope(noConsent))).toMatchObject({
      status: 200,
      body: { results: [{ status: 'skipped', reason: 'no consent for ads' }] },
    });
    expect(await handler.handlePush(envelope(event({ event: 'Product Viewed' })))).toMatchObject({
      status: 200,
      body: { results: [{ status: 'skipped' }] },
    });
    expect(dest.calls).toHaveLength(0);
  });

  test('bad envelopes: 400 for a non-envelope, 2xx (acknowledged) for data that is not a canonical event', async () => {
    const { handler } = setup();
    expect((await handler.handlePush({ hello: 1 })).status).toBe(400);
    const junk = await handler.handlePush({
      message: { data: Buffer.from('{"nope":1}').toString('base64'), messageId: 'x' },
    });
    expect(junk.status).toBe(204);
    expect(String(junk.body.error)).toMatch(/not a canonical event/);
  });

  test('an in-flight send that died is not re-sent to a destination that cannot deduplicate', async () => {
    const { dir, dest, handler, ledger } = setup(undefined, 'none');
    await handler.handle(event({ event_id: 'evt-0', properties: { order_id: 'T-0' } })); // creates the state tables
    const wh = await openLocalWarehouse(dir, { readOnly: false });
    await new Ledger(wh, dialectFor(wh), '_tagpipe').write([
      {
        run_id: 'stream',
        attempt_id: 'stream:m-9:1',
        sync: 'live',
        destination: 'test-dest',
        key: 'T-100',
        event_id: 'evt-1',
        action: 'send',
        row_hash: null,
        outcome: 'pending',
        http_status: null,
        vendor_error: null,
        attempts: 1,
        consent_basis: 'gcm:ads',
        request_id: null,
        at: NOW,
      },
    ]);
    await wh.close();
    const calls = dest.calls.length;
    expect(await handler.handlePush(envelope(event(), 'm-9'))).toMatchObject({
      status: 200,
      body: { results: [{ status: 'unknown' }] },
    });
    expect(dest.calls).toHaveLength(calls);
    expect((await ledger()).filter((r) => r.key === 'T-100').map((r) => r.outcome)).toEqual(['pending', 'unknown']);
  });

  test('serveStreamSync answers push requests over HTTP', async () => {
    const { config, dest, dir } = setup();
    const server = await serveStreamSync(config, silentLogger, 0, '127.0.0.1', {
      registry: { 'test-dest': dest as Destination<unknown> },
      openWarehouse: () => openLocalWarehouse(dir, { readOnly: false }),
    });
    const { port } = server.address() as { port: number };
    try {
      const res = await fetch(`http://127.0.0.1:${port}/`, {
        method: 'POST',
        body: JSON.stringify(envelope(event())),
        headers: { 'content-type': 'application/json' },
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toMatchObject({ ok: true, results: [{ sync: 'live', status: 'sent' }] });
      expect(dest.calls).toHaveLength(1);
      const bad = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', body: 'not json' });
      expect(bad.status).toBe(400);
    } finally {
      server.close();
    }
  });
});
