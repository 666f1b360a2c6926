/** Shared set-up for sync tests: a temp data dir with marts in a real DuckDB warehouse, a fake clock, a test destination. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import type {
  Clock,
  Destination,
  DestinationLimits,
  Outcome,
  SyncRecord,
  Capability,
} from '../../src/core/destination';
import { silentLogger } from '../../src/core/logger';
import { openLocalWarehouse, type DuckDbWarehouse } from '../../src/warehouse/duckdb';
import { parseSync, type SyncDefinition, type SyncInput } from '../../src/sync/config';
import { runSync, type ExecutorDeps, type RunResult } from '../../src/sync/executor';

export function tempDir(prefix = 'tagpipe-sync-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export const NOW = new Date('2026-03-10T12:00:00.000Z');

/** A clock that never really sleeps: sleeping advances time and records how long was asked for. */
export class FakeClock implements Clock {
  readonly sleeps: number[] = [];
  constructor(private t = NOW.getTime()) {}
  now(): Date {
    return new Date(this.t);
  }
  sleep(ms: number): Promise<void> {
    this.sleeps.push(ms);
    this.t += ms;
    return Promise.resolve();
  }
}

export interface Call {
  records: SyncRecord[];
  at: number;
}

/** A destination honouring the interface: it records every call and answers with `respond` (default: all ok). */
export function testDestination(options: {
  name?: string;
  capabilities?: Capability[];
  limits?: DestinationLimits;
  dedup?: Destination['dedup'];
  requiredConsent?: Destination['requiredConsent'];
  respond?: (records: SyncRecord[], callIndex: number) => Outcome[] | Promise<Outcome[]>;
  clock?: Clock;
}): Destination<Record<string, unknown>> & { calls: Call[] } {
  const calls: Call[] = [];
  return {
    name: options.name ?? 'test-dest',
    description: 'records calls',
    configSchema: z.record(z.string(), z.unknown()),
    capabilities: options.capabilities ?? ['events', 'audience_add', 'audience_remove', 'record_upsert'],
    limits: options.limits ?? { maxBatchSize: 3 },
    requiredConsent: options.requiredConsent ?? ['ads'],
    dedup: options.dedup,
    calls,
    async send(batch) {
      calls.push({
        records: batch.map((r) => ({ ...r, row: { ...r.row } })),
        at: options.clock?.now().getTime() ?? Date.now(),
      });
      if (options.respond) return options.respond(batch, calls.length - 1);
      return batch.map(() => ({ status: 'ok', httpStatus: 200, requestId: `req-${calls.length}` }) as Outcome);
    },
  };
}

const CONSENT_COLS = `consent_analytics BOOLEAN, consent_ads BOOLEAN, consent_ad_user_data BOOLEAN,
  consent_ad_personalization BOOLEAN, consent_source VARCHAR`;

export async function createMarts(wh: DuckDbWarehouse): Promise<void> {
  await wh.exec('CREATE SCHEMA IF NOT EXISTS marts');
  await wh.exec(`CREATE TABLE IF NOT EXISTS marts.conversions (conversion_key VARCHAR, event_id VARCHAR, event_name VARCHAR,
    occurred_at TIMESTAMP, value DOUBLE, currency VARCHAR, email_sha256 VARCHAR, ${CONSENT_COLS})`);
  await wh.exec(`CREATE TABLE IF NOT EXISTS marts.audience_members (member_key VARCHAR, audience_id VARCHAR, person_id VARCHAR,
    email_sha256 VARCHAR, phone_sha256 VARCHAR, ${CONSENT_COLS})`);
  await wh.exec(`CREATE TABLE IF NOT EXISTS marts.users (person_id VARCHAR, email VARCHAR, first_name VARCHAR,
    lifetime_value DOUBLE, ${CONSENT_COLS})`);
}

export async function addConversions(
  wh: DuckDbWarehouse,
  n: number,
  opts: { start?: number; ads?: boolean; hoursAgo?: number } = {},
): Promise<void> {
  const start = opts.start ?? 0;
  const ads = opts.ads ?? true;
  const hoursAgo = opts.hoursAgo ?? 1;
  await wh.exec(`INSERT INTO marts.conversions SELECT 'c' || lpad(CAST(i AS VARCHAR), 6, '0'), 'e' || lpad(CAST(i AS VARCHAR), 6, '0'),
    'purchase', TIMESTAMP '${NOW.toISOString().slice(0, 19).replace('T', ' ')}' - INTERVAL ${hoursAgo} HOUR, 10.5 + i, 'EUR',
    md5(CAST(i AS VARCHAR)), true, ${ads}, ${ads}, ${ads}, 'gcm' FROM range(${start}, ${start + n}) t(i)`);
}

export async function addMembers(wh: DuckDbWarehouse, audience: string, from: number, to: number): Promise<void> {
  await wh.exec(`INSERT INTO marts.audience_members SELECT '${audience}:p' || lpad(CAST(i AS VARCHAR), 6, '0'), '${audience}',
    'p' || lpad(CAST(i AS VARCHAR), 6, '0'), md5('m' || CAST(i AS VARCHAR)), NULL, true, true, true, true, 'explicit'
    FROM range(${from}, ${to}) t(i)`);
}

export function syncDef(input: Partial<SyncInput> & Pick<SyncInput, 'name' | 'mode' | 'source'>): SyncDefinition {
  return parseSync({ destination: 'test-dest', ...input });
}

export async function run(
  wh: DuckDbWarehouse,
  sync: SyncDefinition,
  destination: Destination<Record<string, unknown>>,
  clock: Clock,
  extra: Partial<ExecutorDeps> = {},
): Promise<RunResult> {
  return runSync(sync, {
    warehouse: wh,
    destination: destination as Destination<unknown>,
    destinationConfig: {},
    http: () => Promise.reject(new Error('no HTTP in this test')),
    logger: silentLogger,
    clock,
    backoff: { baseMs: 100, capMs: 1000, random: () => 1 },
    ...extra,
  });
}

/** The ledger of a sync in write order: by time, then attempt, each attempt's intent before its outcome. */
export async function ledgerRows(wh: DuckDbWarehouse, sync: string): Promise<Record<string, unknown>[]> {
  return wh.query(
    `SELECT * FROM _tagpipe.delivery_ledger WHERE sync = @sync ORDER BY "at", attempt_id, outcome <> 'pending', "key"`,
    {
      sync,
    },
  );
}

export { openLocalWarehouse };
