/**
 * A sync run in its own process, for the crash test: argv = dataDir mode dedup hangAtCall.
 * The destination appends every key it receives to <dataDir>/vendor.log (fsynced: the vendor's side effect),
 * and on call number `hangAtCall` hangs after receiving, so the parent can kill -9 the process mid-send.
 */
import fs from 'node:fs';
import path from 'node:path';
import { silentLogger } from '../../src/core/logger';
import { systemClock, type Destination } from '../../src/core/destination';
import { runSync } from '../../src/sync/executor';
import { openLocalWarehouse } from '../../src/warehouse/duckdb';
import { syncDef, testDestination } from './helpers';

async function main(): Promise<void> {
  const [dataDir, mode, dedup, hangAtText] = process.argv.slice(2);
  const hangAt = Number(hangAtText);
  const log = fs.openSync(path.join(dataDir, 'vendor.log'), 'a');
  const dest = testDestination({
    dedup: dedup as Destination['dedup'],
    limits: { maxBatchSize: 50, maxConcurrency: 1 },
    respond: async (records, call) => {
      fs.writeSync(log, records.map((r) => `${r.action} ${r.key}\n`).join(''));
      fs.fsyncSync(log);
      if (call + 1 === hangAt) {
        fs.writeFileSync(path.join(dataDir, 'hung'), String(process.pid));
        // A hung request holds a socket that keeps the process alive; a bare pending promise would not, and the
        // process could exit by itself before the parent's kill -9 once nothing else is in flight.
        await new Promise(() => setInterval(() => undefined, 60_000));
      }
      return records.map(() => ({ status: 'ok' as const }));
    },
  });
  const sync =
    mode === 'mirror'
      ? syncDef({ name: 'aud', mode: 'mirror', source: 'audience_members', maxDeletePercent: 100 })
      : syncDef({ name: 'conv', mode: 'append', source: 'conversions' });
  const wh = await openLocalWarehouse(dataDir, { readOnly: false });
  const result = await runSync(sync, {
    warehouse: wh,
    destination: dest as Destination<unknown>,
    destinationConfig: {},
    http: () => Promise.reject(new Error('no HTTP')),
    logger: silentLogger,
    clock: systemClock,
  });
  await wh.close();
  process.stdout.write(JSON.stringify({ run: result.run, recovery: result.recovery }));
}

main().catch((error: unknown) => {
  process.stderr.write(String((error as Error).stack ?? error));
  process.exit(1);
});
