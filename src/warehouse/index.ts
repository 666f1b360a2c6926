/**
 * Opens the warehouse the config names: DuckDB over the local data dir, or BigQuery in the configured project and
 * location. Callers say whether they write (sync runs) or only read (queries, status).
 */
import type { Config } from '../core/config';
import { openLocalWarehouse, type SyncWarehouse } from './duckdb';

export interface OpenOptions {
  readOnly: boolean;
  /** DuckDB only: how long to wait while another process (dbt) holds the file. */
  lockTimeoutMs?: number;
}

export async function openWarehouse(config: Config, options: OpenOptions): Promise<SyncWarehouse> {
  if (config.warehouse.kind === 'bigquery') {
    // Loaded on demand: local mode never needs the BigQuery client.
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { openBigQueryWarehouse } = require('./bigquery') as typeof import('./bigquery');
    return openBigQueryWarehouse({
      projectId: config.warehouse.projectId ?? undefined,
      location: config.warehouse.location,
    });
  }
  return openLocalWarehouse(config.dataDir, { readOnly: options.readOnly, lockTimeoutMs: options.lockTimeoutMs });
}

export { openLocalWarehouse, DuckDbWarehouse, type SyncWarehouse } from './duckdb';
