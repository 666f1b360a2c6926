/**
 * The lander killed with SIGKILL while landing (between any two steps: Parquet write, rename, checkpoint,
 * compaction), then restarted: every published message is in the raw table exactly once.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { EmbeddedBus } from '../../src/bus/embedded';
import { startLander } from '../../src/warehouse/lander';
import { localPaths } from '../../src/warehouse/types';

const root = path.resolve(__dirname, '../..');

async function killLanderAfter(dataDir: string, rows: number): Promise<void> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'lander.ts'), dataDir], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise<NodeJS.Signals | null>((resolve) => child.on('close', (_c, signal) => resolve(signal)));
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      const last = d.toString().trim().split('\n').pop() ?? '';
      if (Number(last.split(' ')[1]) >= rows) {
        process.kill(-(child.pid as number), 'SIGKILL');
        resolve();
      }
    });
    child.on('exit', () => reject(new Error(`lander exited before the kill: ${err}`)));
  });
  expect(await closed).toBe('SIGKILL');
}

test('kill -9 of the lander mid-landing, twice, then a restart: every message lands exactly once', async () => {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tagpipe-lander-kill9-'));
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    let bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
    const ids: string[] = [];
    for (let k = 0; k < 30; k++) {
      const batch = Array.from({ length: 200 }, (_, i) => {
        const id = `e-${k}-${i}`;
        return { data: Buffer.from(JSON.stringify({ event_id: id })), attributes: { event_id: id } };
      });
      ids.push(...(await bus.publish('events', batch)).messageIds);
    }
    await bus.close();

    await killLanderAfter(dataDir, 1500);
    await killLanderAfter(dataDir, 1500);

    bus = await EmbeddedBus.open({ dir: localPaths(dataDir).bus });
    const lander = await startLander({ bus, dataDir, batchSize: 500, maxWaitMs: 1 });
    const log = bus.log('events');
    const until = Date.now() + 60_000;
    while (log.checkpoint('lander-events') < log.end) {
      if (Date.now() > until) throw new Error('lander did not catch up');
      await new Promise((r) => setTimeout(r, 20));
    }
    await lander.close();
    await bus.close();

    const glob = localPaths(dataDir).rawGlob('events');
    const rows = (await conn.runAndReadAll(`SELECT message_id FROM read_parquet('${glob}')`)).getRowObjects();
    const landed = rows.map((r) => String(r.message_id));
    expect(landed.length).toBe(ids.length);
    expect(new Set(landed).size).toBe(ids.length);
    expect([...landed].sort()).toEqual([...ids].sort());
  } finally {
    conn.closeSync();
    db.closeSync();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
});
