import { plan, type PlanContext } from '../../src/sync/planner';
import { ensureState } from '../../src/sync/ledger';
import { dialectFor } from '../../src/sync/sql';
import type { DuckDbWarehouse } from '../../src/warehouse/duckdb';
import {
  addConversions,
  addMembers,
  createMarts,
  FakeClock,
  NOW,
  openLocalWarehouse,
  run,
  syncDef,
  tempDir,
  testDestination,
} from './helpers';

let wh: DuckDbWarehouse;
beforeEach(async () => {
  wh = await openLocalWarehouse(tempDir(), { readOnly: false });
  await createMarts(wh);
  await ensureState(wh, dialectFor(wh), '_tagpipe');
});
afterEach(async () => {
  await wh.close();
});

function ctx(sync: ReturnType<typeof syncDef>, over: Partial<PlanContext> = {}): PlanContext {
  return {
    wh,
    d: dialectFor(wh),
    sync,
    stateDataset: '_tagpipe',
    martsDataset: 'marts',
    destinationConsent: ['ads'],
    now: NOW,
    ...over,
  };
}

describe('planner (SQL on DuckDB)', () => {
  test('append: consented rows in the window whose key is not delivered; consent and window filter in SQL', async () => {
    await addConversions(wh, 5);
    await addConversions(wh, 2, { start: 100, ads: false }); // no ads consent
    await addConversions(wh, 3, { start: 200, hoursAgo: 24 * 30 }); // older than the lookback
    const sync = syncDef({ name: 'conv', mode: 'append', source: 'conversions' });
    const first = await plan(ctx(sync));
    expect(first).toMatchObject({ sends: 5, total: 5, adds: 0, removes: 0, refusal: null, purposes: ['ads'] });
    expect(first.since?.toISOString()).toBe('2026-03-03T12:00:00.000Z');
    expect(first.watermark?.toISOString()).toBe('2026-03-10T11:00:00.000Z');
    expect(first.samples.map((s) => s.key)).toEqual(['c000000', 'c000001', 'c000002']);
    expect(first.samples[0].row).toMatchObject({
      conversion_key: 'c000000',
      event_id: 'e000000',
      value: 10.5,
      consent_ads: true,
    });

    // Deliver two, reject one permanently: the next plan holds the other two only.
    const dest = testDestination({
      respond: (records) =>
        records.map((r) =>
          r.key === 'c000001'
            ? { status: 'rejected', reason: 'bad value' }
            : r.key === 'c000003' || r.key === 'c000004'
              ? { status: 'retry', reason: '503' }
              : { status: 'ok' },
        ),
    });
    await run(
      wh,
      syncDef({ name: 'conv', mode: 'append', source: 'conversions', maxAttempts: 1 }),
      dest,
      new FakeClock(),
    );
    const second = await plan(ctx(sync));
    expect(second.sends).toBe(2);
    expect(second.samples.map((s) => s.key)).toEqual(['c000003', 'c000004']);
  });

  test('append: the destination maximum event age narrows the window', async () => {
    await addConversions(wh, 2, { hoursAgo: 1 });
    await addConversions(wh, 2, { start: 10, hoursAgo: 30 });
    const sync = syncDef({ name: 'conv', mode: 'append', source: 'conversions' });
    expect((await plan(ctx(sync))).sends).toBe(4);
    expect((await plan(ctx(sync, { maxEventAgeSeconds: 24 * 3600 }))).sends).toBe(2);
  });

  test('mirror: adds, then removes after consent withdrawal, with the deletion guard', async () => {
    await addMembers(wh, 'vip', 0, 10);
    const sync = syncDef({
      name: 'vip',
      mode: 'mirror',
      source: 'audience_members',
      where: "audience_id = 'vip'",
      maxDeletePercent: 20,
    });
    const dest = testDestination({ limits: { maxBatchSize: 100 } });
    const clock = new FakeClock();
    const first = await run(wh, sync, dest, clock);
    expect(first.plan).toMatchObject({ adds: 10, removes: 0, snapshotSize: 0 });
    expect(dest.calls[0].records.map((r) => r.action)).toEqual(Array(10).fill('add'));

    // Two people withdraw ads consent (the mart keeps the row with consent false, or drops it: both remove).
    await wh.exec(`UPDATE marts.audience_members SET consent_ads = false WHERE member_key = 'vip:p000003'`);
    await wh.exec(`DELETE FROM marts.audience_members WHERE member_key = 'vip:p000007'`);
    await addMembers(wh, 'vip', 10, 11);
    const second = await plan(ctx(sync));
    expect(second).toMatchObject({ adds: 1, removes: 2, snapshotSize: 10, refusal: null });
    expect(second.deletePercent).toBeCloseTo(20);
    const removed = second.samples.filter((s) => s.action === 'remove');
    // Removes carry the identifiers from the snapshot, since the source no longer has the row.
    expect(removed.map((s) => [s.key, s.row.email_sha256])).toEqual([
      ['vip:p000003', expect.stringMatching(/^[0-9a-f]{32}$/)],
      ['vip:p000007', expect.stringMatching(/^[0-9a-f]{32}$/)],
    ]);
    await run(wh, sync, dest, clock);
    expect(dest.calls[1].records.map((r) => [r.action, r.key]).sort()).toEqual([
      ['add', 'vip:p000010'],
      ['remove', 'vip:p000003'],
      ['remove', 'vip:p000007'],
    ]);
    expect(await wh.query(`SELECT count(*) AS n FROM _tagpipe.snapshots WHERE sync = 'vip'`)).toEqual([{ n: 9 }]);

    // An emptied source would remove everything: refused without --force, nothing sent, run recorded as refused.
    await wh.exec(`DELETE FROM marts.audience_members`);
    const guarded = await run(wh, sync, dest, clock);
    expect(guarded.run.status).toBe('refused');
    expect(guarded.run.error).toMatch(
      /would remove 9 of 9 audience members \(100\.0%\), more than maxDeletePercent 20%.*--force/,
    );
    expect(dest.calls).toHaveLength(2);
    const forced = await run(wh, sync, dest, clock, { force: true });
    expect(forced.run).toMatchObject({ status: 'ok', removes: 9, delivered: 9 });
    expect(await wh.query(`SELECT count(*) AS n FROM _tagpipe.snapshots WHERE sync = 'vip'`)).toEqual([{ n: 0 }]);
  });

  test('upsert: adds, then only changed rows by row hash; field mapping shapes the row', async () => {
    await wh.exec(`INSERT INTO marts.users VALUES ('u1', 'a@x.com', 'Ann', 10, true, true, true, true, 'explicit'),
      ('u2', 'b@x.com', 'Bob', 20, true, true, true, true, 'explicit'), ('u3', NULL, 'Cy', 5, true, true, true, true, 'explicit')`);
    const sync = syncDef({
      name: 'crm',
      mode: 'upsert',
      source: 'users',
      fields: { email: 'email', firstname: 'first_name', ltv: 'lifetime_value' },
      identifiers: ['email'],
    });
    const dest = testDestination({ requiredConsent: ['analytics'], limits: { maxBatchSize: 10 } });
    const clock = new FakeClock();
    const first = await run(wh, sync, dest, clock);
    expect(first.plan).toMatchObject({ adds: 2, changes: 0 }); // u3 has no identifier
    expect(dest.calls[0].records[0]).toEqual({
      key: 'u1',
      action: 'upsert',
      row: {
        email: 'a@x.com',
        firstname: 'Ann',
        ltv: 10,
        consent_analytics: true,
        consent_ads: true,
        consent_ad_user_data: true,
        consent_ad_personalization: true,
        consent_source: 'explicit',
      },
    });
    expect((await plan(ctx(sync, { destinationConsent: ['analytics'] }))).total).toBe(0);
    await wh.exec(`UPDATE marts.users SET lifetime_value = 99 WHERE person_id = 'u2'`);
    await wh.exec(`UPDATE marts.users SET lifetime_value = 1 WHERE person_id = 'u3'`);
    const next = await plan(ctx(sync, { destinationConsent: ['analytics'] }));
    expect(next).toMatchObject({ adds: 0, changes: 1, total: 1 });
    expect(next.samples[0]).toMatchObject({ action: 'change', key: 'u2', row: { ltv: 99 } });
  });

  test('a permanently rejected row is not planned again until it changes', async () => {
    await wh.exec(`INSERT INTO marts.users VALUES ('u1', 'bad', 'Ann', 10, true, true, true, true, 'explicit')`);
    const sync = syncDef({ name: 'crm', mode: 'upsert', source: 'users' });
    const dest = testDestination({
      respond: (rs) => rs.map(() => ({ status: 'rejected', reason: 'INVALID_EMAIL', httpStatus: 400 })),
    });
    const clock = new FakeClock();
    expect((await run(wh, sync, dest, clock)).run).toMatchObject({ status: 'partial', rejected: 1 });
    expect((await plan(ctx(sync))).total).toBe(0);
    await wh.exec(`UPDATE marts.users SET email = 'ann@x.com'`);
    expect((await plan(ctx(sync))).changes + (await plan(ctx(sync))).adds).toBe(1);
  });

  test('a missing source or column is a clear config error', async () => {
    await expect(plan(ctx(syncDef({ name: 'x', mode: 'append', source: 'nope', key: 'k' })))).rejects.toThrow(
      /source marts\.nope does not exist \(have the models run/,
    );
    await expect(
      plan(ctx(syncDef({ name: 'x', mode: 'append', source: 'conversions', key: 'order_id' }))),
    ).rejects.toThrow(/has no column order_id \(the key\)/);
  });
});
