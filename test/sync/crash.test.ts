import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { openLocalWarehouse } from '../../src/warehouse/duckdb';
import { addMembers, createMarts, tempDir } from './helpers';

const CHILD = path.join(__dirname, 'crash-child.ts');
const TSX = require.resolve('tsx/cjs');

function runChild(
  dir: string,
  mode: string,
  dedup: string,
): Promise<{ run: Record<string, unknown>; recovery: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['-r', TSX, CHILD, dir, mode, dedup, '-1'],
      { timeout: 60_000 },
      (error, stdout, stderr) =>
        error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(JSON.parse(stdout) as never),
    );
  });
}

/** Starts a run that hangs inside its 3rd request, then kills it with SIGKILL. */
async function crashMidRun(dir: string, mode: string, dedup: string): Promise<void> {
  const child = spawn(process.execPath, ['-r', TSX, CHILD, dir, mode, dedup, '3'], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(path.join(dir, 'hung'))) {
    if (Date.now() > deadline) throw new Error('the child never reached its 3rd request');
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  expect(await exited).toBe('SIGKILL');
  fs.rmSync(path.join(dir, 'hung'));
}

function vendorLog(dir: string): string[] {
  return fs.readFileSync(path.join(dir, 'vendor.log'), 'utf8').split('\n').filter(Boolean);
}

function counts(lines: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of lines) m.set(l, (m.get(l) ?? 0) + 1);
  return m;
}

async function seed(
  dir: string,
  fn: (wh: Awaited<ReturnType<typeof openLocalWarehouse>>) => Promise<void>,
): Promise<void> {
  const wh = await openLocalWarehouse(dir, { readOnly: false });
  await createMarts(wh);
  await fn(wh);
  await wh.close();
}

/** 200 consented conversions an hour before the real clock: the child runs on system time, the window is the last 7 days. */
function seedConversions(dir: string): Promise<void> {
  return seed(dir, async (wh) => {
    await wh.exec(`CREATE OR REPLACE TABLE marts.conversions AS SELECT 'c' || lpad(CAST(i AS VARCHAR), 4, '0') AS conversion_key,
      'e' || CAST(i AS VARCHAR) AS event_id, now()::TIMESTAMP - INTERVAL 1 HOUR AS occurred_at, true AS consent_ads, 'gcm' AS consent_source
      FROM range(200) t(i)`);
  });
}

describe('crash safety (kill -9 mid-run, then run again)', () => {
  test('append to a destination that cannot deduplicate: nothing lost, nothing sent twice, the in-flight batch is unknown', async () => {
    const dir = tempDir();
    await seedConversions(dir);
    await crashMidRun(dir, 'append', 'none');
    const afterCrash = vendorLog(dir);
    expect(afterCrash).toHaveLength(150); // three batches of 50 reached the vendor

    const second = await runChild(dir, 'append', 'none');
    expect(second.recovery).toMatchObject({ unknown: 50, interrupted: 0 });
    expect(second.run).toMatchObject({ status: 'ok', planned: 50, delivered: 50 });

    const sent = vendorLog(dir);
    expect(sent).toHaveLength(200);
    expect([...counts(sent).values()].every((n) => n === 1)).toBe(true); // no double send
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    const states = await wh.query<{ key: string; final: string }>(
      `SELECT "key", max(CASE WHEN outcome = 'ok' THEN 2 WHEN outcome = 'unknown' THEN 1 ELSE 0 END) AS final
       FROM _tagpipe.delivery_ledger WHERE sync = 'conv' GROUP BY "key"`,
    );
    expect(states).toHaveLength(200); // every row is accounted for in the ledger
    expect(states.filter((s) => Number(s.final) === 2)).toHaveLength(150);
    expect(states.filter((s) => Number(s.final) === 1)).toHaveLength(50);
    const runs = await wh.query<{ status: string }>(`SELECT status FROM _tagpipe.sync_runs ORDER BY started_at`);
    expect(runs.map((r) => r.status)).toEqual(['crashed', 'ok']);
    // A third run sends nothing: unknown rows wait for an operator.
    await wh.close();
    expect((await runChild(dir, 'append', 'none')).run).toMatchObject({ planned: 0 });
  }, 120_000);

  // A vendor that deduplicates is sent requests with no intent and their outcomes commit while the next request
  // goes out: a crash may leave delivered batches unrecorded as well as the in-flight one. Those are sent again
  // (the vendor absorbs them); a batch recorded as delivered never is, and nothing is lost.

  /** The keys a crashed run recorded as delivered, read after the crash and before anything else runs. */
  async function recordedDelivered(dir: string, sync: string): Promise<Set<string>> {
    const wh = await openLocalWarehouse(dir, { readOnly: false });
    const rows = await wh.query<{ key: string }>(
      `SELECT "key" FROM _tagpipe.delivery_ledger WHERE sync = '${sync}' AND outcome = 'ok'`,
    );
    const pending = await wh.query(`SELECT * FROM _tagpipe.delivery_requests WHERE outcome = 'pending'`);
    expect(pending).toEqual([]); // no intent for a vendor that deduplicates
    await wh.close();
    return new Set(rows.map((r) => r.key));
  }

  function expectResentOnlyUnrecorded(sent: Map<string, number>, recorded: Set<string>, inFlight: string[]): void {
    expect(sent.size).toBe(200); // nothing lost
    for (const line of inFlight) expect(sent.get(line)).toBe(2); // the in-flight batch is sent again
    for (const [line, n] of sent) {
      const key = line.slice(line.indexOf(' ') + 1);
      expect(n).toBe(recorded.has(key) ? 1 : n); // a batch recorded as delivered is never sent again
      expect(n).toBeLessThanOrEqual(2);
    }
  }

  test('mirror to an idempotent destination: the in-flight batch and unrecorded ones are re-sent, recorded ones never', async () => {
    const dir = tempDir();
    await seed(dir, async (wh) => addMembers(wh, 'a', 0, 200));
    await crashMidRun(dir, 'mirror', 'idempotent');
    const inFlight = vendorLog(dir).slice(100, 150);
    expect(inFlight).toHaveLength(50);
    const recorded = await recordedDelivered(dir, 'aud');
    expect(recorded.size % 50).toBe(0);
    expect(recorded.size).toBeLessThanOrEqual(100);
    const second = await runChild(dir, 'mirror', 'idempotent');
    expect(second.recovery).toMatchObject({ interrupted: 0, unknown: 0 });
    // Delivered batches the ledger recorded entered the snapshot during recovery: only the others are planned.
    expect(second.run).toMatchObject({ status: 'ok', planned: 200 - recorded.size, delivered: 200 - recorded.size });
    expectResentOnlyUnrecorded(counts(vendorLog(dir)), recorded, inFlight);
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    expect(await wh.query(`SELECT count(*) AS n FROM _tagpipe.snapshots WHERE sync = 'aud'`)).toEqual([{ n: 200 }]);
    await wh.close();
  }, 120_000);

  test('append to a destination that deduplicates on event_id: the in-flight batch is re-sent, every event delivered', async () => {
    const dir = tempDir();
    await seedConversions(dir);
    await crashMidRun(dir, 'append', 'event_id');
    const inFlight = vendorLog(dir).slice(100, 150);
    expect(inFlight).toHaveLength(50);
    const recorded = await recordedDelivered(dir, 'conv');
    expect(recorded.size).toBeLessThanOrEqual(100);
    const second = await runChild(dir, 'append', 'event_id');
    expect(second.recovery).toMatchObject({ interrupted: 0, unknown: 0 });
    expect(second.run).toMatchObject({ status: 'ok', planned: 200 - recorded.size, delivered: 200 - recorded.size });
    expectResentOnlyUnrecorded(counts(vendorLog(dir)), recorded, inFlight);
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    const delivered = await wh.query<{ n: number }>(
      `SELECT count(DISTINCT "key") AS n FROM _tagpipe.delivery_ledger WHERE sync = 'conv' AND outcome = 'ok'`,
    );
    expect(delivered).toEqual([{ n: 200 }]);
    await wh.close();
    expect((await runChild(dir, 'append', 'event_id')).run).toMatchObject({ planned: 0 });
  }, 120_000);
});
