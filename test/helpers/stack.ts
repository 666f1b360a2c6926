/**
 * Test helpers: a local stack on a free port in a temporary data dir, and raw-table reads through a separate
 * DuckDB instance (as dbt and the CLI read them).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { parseConfig, type Config } from '../../src/core/config';
import { silentLogger } from '../../src/core/logger';
import { startLocalStack, type LocalStack } from '../../src/stack/local';
import { localPaths, type RawTable } from '../../src/warehouse/types';

export function tempDir(prefix = 'tagpipe-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function testConfig(
  dataDir: string,
  env: Record<string, string> = {},
  overrides: Record<string, unknown> = {},
): Config {
  return parseConfig(
    { TAGPIPE_DATA_DIR: dataDir, TAGPIPE_LOG_LEVEL: 'silent', ...env },
    { cwd: dataDir, overrides: { 'server.port': 0, 'server.host': '127.0.0.1', ...overrides } },
  );
}

export async function startTestStack(
  env: Record<string, string> = {},
  overrides: Record<string, unknown> = {},
  dataDir = tempDir(),
): Promise<LocalStack & { config: Config }> {
  const config = testConfig(dataDir, env, overrides);
  const stack = await startLocalStack({ config, logger: silentLogger, models: false });
  return Object.assign(stack, { config });
}

/** Reads a raw table's rows from the Parquet files, with `data` and `attributes` parsed. */
export async function readRaw(
  dataDir: string,
  table: RawTable = 'events',
): Promise<
  Array<{
    subscription_name: string;
    message_id: string;
    publish_time: string;
    data: Record<string, any>;
    attributes: Record<string, string>;
  }>
> {
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  try {
    const reader = await conn.runAndReadAll(
      `SELECT subscription_name, message_id, CAST(publish_time AS VARCHAR) AS publish_time, CAST(data AS VARCHAR) AS data, CAST(attributes AS VARCHAR) AS attributes
       FROM read_parquet('${localPaths(dataDir).rawGlob(table).replace(/'/g, "''")}', union_by_name = true)`,
    );
    return reader.getRowObjects().map((r) => ({
      subscription_name: String(r.subscription_name),
      message_id: String(r.message_id),
      publish_time: String(r.publish_time),
      data: JSON.parse(String(r.data)) as Record<string, any>,
      attributes: JSON.parse(String(r.attributes)) as Record<string, string>,
    }));
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}
