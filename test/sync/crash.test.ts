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

describe('crash safety (kill -9 mid-run, then run again)', () => {
  test('append to a destination that cannot deduplicate: nothing lost, nothing sent twice, the in-flight batch is unknown', async () => {
    const dir = tempDir();
    // Rows an hour before the real clock: the child runs on system time, the window is the last 7 days.
    await seed(dir, async (wh) => {
      await wh.exec(`CREATE OR REPLACE TABLE marts.conversions AS SELECT 'c' || lpad(CAST(i AS VARCHAR), 4, '0') AS conversion_key,
        'e' || CAST(i AS VARCHAR) AS event_id, now()::TIMESTAMP - INTERVAL 1 HOUR AS occurred_at, true AS consent_ads, 'gcm' AS consent_source
        FROM range(200) t(i)`);
    });
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

  test('mirror to an idempotent destination: the in-flight batch is re-sent, delivered rows enter the snapshot', async () => {
    const dir = tempDir();
    await seed(dir, async (wh) => addMembers(wh, 'a', 0, 200));
    await crashMidRun(dir, 'mirror', 'idempotent');
    const second = await runChild(dir, 'mirror', 'idempotent');
    expect(second.recovery).toMatchObject({ interrupted: 50, unknown: 0 });
    // Two delivered batches entered the snapshot during recovery: only the in-flight one and the rest are planned.
    expect(second.run).toMatchObject({ status: 'ok', planned: 100, delivered: 100 });
    const sent = counts(vendorLog(dir));
    expect(sent.size).toBe(200);
    expect([...sent.values()].filter((n) => n === 2)).toHaveLength(50); // exactly the in-flight batch twice
    const wh = await openLocalWarehouse(dir, { readOnly: true });
    expect(await wh.query(`SELECT count(*) AS n FROM _tagpipe.snapshots WHERE sync = 'aud'`)).toEqual([{ n: 200 }]);
    await wh.close();
  }, 120_000);
});
