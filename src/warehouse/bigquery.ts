/**
 * Production warehouse on BigQuery (@google-cloud/bigquery). Queries run as query jobs (jobs.insert) with named
 * parameters (`@name`) in the configured location; results are read with jobs.getQueryResults, one page of
 * `maxResults` rows at a time for `stream()`, so memory stays bounded. Values come back JSON-safe: INT64 as a
 * number while exact (else a string), TIMESTAMP as ISO-8601, DATE/DATETIME/TIME as their text, NUMERIC as a number.
 *
 * `insertRows` (ledger, run records) uses DML INSERT in chunks: simple and transactional with the rest of the
 * state, at the cost of DML quotas (1,500 table writes per day per table are not a limit for DML on BigQuery
 * today, but each statement costs a job; the ledger is written once per batch, not per row).
 */
import { BigQuery, type BigQueryOptions, type Query } from '@google-cloud/bigquery';
import type { ColumnSpec, SyncWarehouse } from './duckdb';
import type { QueryParams } from './types';

export interface BigQueryWarehouseOptions {
  projectId?: string;
  /** Dataset location (US, EU, europe-west3 …); jobs run there. */
  location?: string;
  /** Override the REST endpoint (tests: a local fake server). */
  apiEndpoint?: string;
  /** An auth client (tests pass one with a static token). */
  authClient?: BigQueryOptions['authClient'];
  /** Rows per DML INSERT statement in insertRows. */
  insertChunk?: number;
}

const MAX_SAFE = Number.MAX_SAFE_INTEGER;

/** Converts the client's value wrappers into plain JSON values. */
export function toJsonValue(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value)) return value.map(toJsonValue);
  if (Buffer.isBuffer(value)) return value.toString('base64');
  if (typeof value === 'object') {
    const ctor = (value as { constructor?: { name?: string } }).constructor?.name;
    if (ctor === 'BigQueryInt') {
      const text = String((value as { value: string }).value);
      const n = Number(text);
      return Number.isSafeInteger(n) && Math.abs(n) <= MAX_SAFE ? n : text;
    }
    if (
      ctor === 'BigQueryTimestamp' ||
      ctor === 'BigQueryDate' ||
      ctor === 'BigQueryDatetime' ||
      ctor === 'BigQueryTime'
    ) {
      return (value as { value: string }).value;
    }
    if (ctor === 'Big') return Number(String(value));
    if (ctor === 'Geography') return (value as { value: string }).value;
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = toJsonValue(v);
    return out;
  }
  return value;
}

function convertRow<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) out[k] = toJsonValue(v);
  return out as T;
}

function bqLiteral(type: ColumnSpec['type'], value: unknown): string {
  if (value === null || value === undefined) return 'NULL';
  switch (type) {
    case 'string':
      return `'${String(typeof value === 'string' ? value : JSON.stringify(value))
        .replace(/\\/g, '\\\\')
        .replace(/'/g, "\\'")
        .replace(/\n/g, '\\n')
        .replace(/\r/g, '\\r')}'`;
    case 'int':
      return String(Math.trunc(Number(value)));
    case 'float':
      return String(Number(value));
    case 'bool':
      return value ? 'TRUE' : 'FALSE';
    case 'timestamp':
      return `TIMESTAMP '${(value instanceof Date ? value : new Date(String(value))).toISOString()}'`;
  }
}

export class BigQueryWarehouse implements SyncWarehouse {
  readonly kind = 'bigquery' as const;

  constructor(
    readonly client: BigQuery,
    readonly projectId: string,
    readonly location: string | undefined,
    private readonly insertChunk = 500,
  ) {}

  private queryOptions(sql: string, params?: QueryParams): Query {
    const options: Query = { query: sql, useLegacySql: false };
    if (this.location) options.location = this.location;
    if (params && Object.keys(params).length) {
      options.params = params;
      // BigQuery cannot infer the type of a NULL parameter.
      const nulls = Object.entries(params).filter(([, v]) => v === null);
      if (nulls.length) options.types = Object.fromEntries(nulls.map(([k]) => [k, 'STRING']));
    }
    return options;
  }

  async query<T = Record<string, unknown>>(sql: string, params?: QueryParams): Promise<T[]> {
    const rows: T[] = [];
    for await (const page of this.stream<T>(sql, params, 10_000)) rows.push(...page);
    return rows;
  }

  async *stream<T = Record<string, unknown>>(sql: string, params?: QueryParams, pageSize = 1000): AsyncIterable<T[]> {
    const [job] = await this.client.createQueryJob(this.queryOptions(sql, params));
    let pageToken: string | undefined;
    for (;;) {
      const [rows, next, response] = await job.getQueryResults({
        maxResults: pageSize,
        pageToken,
        autoPaginate: false,
        wrapIntegers: true,
        location: this.location,
      });
      const complete = (response as { jobComplete?: boolean } | undefined)?.jobComplete !== false;
      if (complete && rows.length) yield rows.map((r) => convertRow<T>(r as Record<string, unknown>));
      if (!complete) continue; // still running: the same call waits server-side again
      pageToken = (next as { pageToken?: string } | null)?.pageToken;
      if (!pageToken) return;
    }
  }

  async exec(sql: string, params?: QueryParams): Promise<void> {
    const [job] = await this.client.createQueryJob(this.queryOptions(sql, params));
    // Waits for completion and surfaces the job's error (getQueryResults polls until jobComplete).
    for (;;) {
      const [, , response] = await job.getQueryResults({ maxResults: 0, autoPaginate: false, location: this.location });
      if ((response as { jobComplete?: boolean } | undefined)?.jobComplete !== false) return;
    }
  }

  table(dataset: string, name: string): string {
    return `\`${this.projectId}\`.\`${dataset}\`.\`${name}\``;
  }

  async insertRows(dataset: string, table: string, columns: ColumnSpec[], rows: unknown[][]): Promise<void> {
    const cols = columns.map((c) => `\`${c.name}\``).join(', ');
    for (let i = 0; i < rows.length; i += this.insertChunk) {
      const values = rows
        .slice(i, i + this.insertChunk)
        .map((row) => `(${columns.map((c, j) => bqLiteral(c.type, row[j])).join(', ')})`)
        .join(',\n');
      await this.exec(`INSERT INTO ${this.table(dataset, table)} (${cols}) VALUES ${values}`);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

export async function openBigQueryWarehouse(options: BigQueryWarehouseOptions): Promise<BigQueryWarehouse> {
  const client = new BigQuery({
    ...(options.projectId ? { projectId: options.projectId } : {}),
    ...(options.location ? { location: options.location } : {}),
    ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
    ...(options.authClient ? { authClient: options.authClient } : {}),
  });
  const projectId = options.projectId ?? (await client.getProjectId());
  return new BigQueryWarehouse(client, projectId, options.location, options.insertChunk);
}
