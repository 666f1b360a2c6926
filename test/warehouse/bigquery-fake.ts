/**
 * A local stand-in for the BigQuery REST API (v2) at the two calls the adapter makes: jobs.insert
 * (POST /bigquery/v2/projects/{project}/jobs) and jobs.getQueryResults
 * (GET /bigquery/v2/projects/{project}/queries/{jobId}). It records every request and answers the documented
 * shapes: a DONE job resource; result pages of `maxResults` rows as `{f: [{v}]}` with `pageToken` while more
 * remain, `totalRows` as a string, INT64 as strings and TIMESTAMP as int64 microseconds when
 * `formatOptions.useInt64Timestamp` is set. Results come from `answer(sql)`; an `error` answer fails the job.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeField {
  name: string;
  type: 'STRING' | 'INT64' | 'INTEGER' | 'FLOAT64' | 'BOOL' | 'TIMESTAMP' | 'DATE';
}
export interface FakeResult {
  fields?: FakeField[];
  rows?: unknown[][];
  error?: string;
}

export interface RecordedCall {
  method: string;
  path: string;
  query: Record<string, string>;
  body: Record<string, unknown> | null;
}

export interface FakeBigQuery {
  url: string;
  calls: RecordedCall[];
  /** SQL texts of every job, in order. */
  queries(): string[];
  close(): Promise<void>;
}

export async function startFakeBigQuery(answer: (sql: string) => FakeResult): Promise<FakeBigQuery> {
  const calls: RecordedCall[] = [];
  const jobs = new Map<string, { sql: string; result: FakeResult; location?: string }>();
  let jobSeq = 0;
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://x');
      const text = Buffer.concat(chunks).toString('utf8');
      const body = text ? (JSON.parse(text) as Record<string, unknown>) : null;
      calls.push({ method: req.method ?? '', path: url.pathname, query: Object.fromEntries(url.searchParams), body });
      const send = (status: number, payload: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(payload));
      };
      const insert = url.pathname.match(/^\/bigquery\/v2\/projects\/([^/]+)\/jobs$/);
      const results = url.pathname.match(/^\/bigquery\/v2\/projects\/([^/]+)\/queries\/([^/]+)$/);
      if (req.method === 'POST' && insert) {
        const configuration = body?.configuration as { query?: { query?: string } } | undefined;
        const ref = (body?.jobReference ?? {}) as { jobId?: string; location?: string };
        const jobId = ref.jobId ?? `job_${++jobSeq}`;
        const sql = configuration?.query?.query ?? '';
        const result = answer(sql);
        jobs.set(jobId, { sql, result, location: ref.location });
        const status = result.error
          ? {
              state: 'DONE',
              errorResult: { reason: 'invalidQuery', message: result.error },
              errors: [{ reason: 'invalidQuery', message: result.error }],
            }
          : { state: 'DONE' };
        if (result.error) {
          send(400, {
            error: { code: 400, message: result.error, errors: [{ reason: 'invalidQuery', message: result.error }] },
          });
          return;
        }
        send(200, {
          kind: 'bigquery#job',
          id: `${insert[1]}:${jobId}`,
          jobReference: { projectId: insert[1], jobId, location: ref.location },
          configuration,
          status,
        });
        return;
      }
      if (req.method === 'GET' && results) {
        const job = jobs.get(results[2]);
        if (!job) return send(404, { error: { code: 404, message: `Not found: Job ${results[2]}` } });
        const fields = job.result.fields ?? [];
        const all = job.result.rows ?? [];
        const start = Number(url.searchParams.get('pageToken') ?? 0);
        const max = url.searchParams.has('maxResults') ? Number(url.searchParams.get('maxResults')) : all.length;
        const page = all.slice(start, start + max);
        const micros = url.searchParams.get('formatOptions.useInt64Timestamp') === 'true';
        const cell = (f: FakeField, v: unknown) => {
          if (v === null || v === undefined) return { v: null };
          if (f.type === 'TIMESTAMP')
            return { v: micros ? String(Date.parse(String(v)) * 1000) : String(Date.parse(String(v)) / 1000) };
          return { v: String(v) };
        };
        const payload: Record<string, unknown> = {
          kind: 'bigquery#getQueryResultsResponse',
          jobReference: { projectId: results[1], jobId: results[2], location: job.location },
          jobComplete: true,
          totalRows: String(all.length),
          schema: { fields: fields.map((f) => ({ name: f.name, type: f.type, mode: 'NULLABLE' })) },
          rows: page.map((row) => ({ f: fields.map((f, i) => cell(f, row[i])) })),
        };
        if (start + max < all.length && max > 0) payload.pageToken = String(start + max);
        send(200, payload);
        return;
      }
      send(404, { error: { code: 404, message: `no route ${req.method} ${url.pathname}` } });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    calls,
    queries: () =>
      calls
        .filter((c) => c.method === 'POST')
        .map((c) => (c.body?.configuration as { query: { query: string } }).query.query),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
