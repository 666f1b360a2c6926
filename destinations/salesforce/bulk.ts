/**
 * Salesforce Bulk API 2.0 upsert for large batches
 * (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm):
 * create job → PUT CSV (at most 100 MB per job) → UploadComplete → poll until JobComplete (abort after
 * `bulkTimeoutMs`) → read successfulResults, failedResults and unprocessedrecords, matched back to records by
 * external id, so every row gets its own outcome.
 */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { RetryableError } from '../../src/core/errors';
import { dryRunOutcomes, excerpt, isObject, times } from '../shared';
import { authorized } from './auth';
import { classify, outcomeFor } from './client';
import { MAX_BULK_RECORD_CHARS, type SalesforceConfig } from './config';
import { csvHeader, csvLine, parseCsv } from './csv';
import type { SalesforceRecord } from './transform';

type Ctx = DestinationContext<SalesforceConfig>;

function base(config: SalesforceConfig): string {
  return `${config.endpoint.replace(/\/+$/, '')}/services/data/${config.apiVersion}/jobs/ingest`;
}

function call(
  ctx: Ctx,
  method: 'GET' | 'POST' | 'PUT' | 'PATCH',
  url: string,
  body?: string,
  contentType = 'application/json',
) {
  // A job can outlive the session (polling for minutes): `authorized` renews it on 401 and resends the call.
  return authorized(ctx, {
    method,
    url,
    headers: { ...(body !== undefined ? { 'content-type': contentType } : {}), accept: 'application/json' },
    body,
    timeoutMs: ctx.config.timeoutMs,
  });
}

const ok = (response: HttpResponse) => response.status >= 200 && response.status < 300;

/**
 * Upserts the records through as many jobs as the upload limit needs (`bulkMaxUploadBytes` of CSV each, header
 * included), one after another; a record whose CSV line alone exceeds Salesforce's 400,000 characters per record is
 * rejected locally.
 */
export async function bulkUpsert(records: SalesforceRecord[], ctx: Ctx): Promise<Outcome[]> {
  const columns = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => k !== 'attributes')))];
  const header = csvHeader(columns);
  const headerBytes = Buffer.byteLength(header) + 1;
  const limit = ctx.config.bulkMaxUploadBytes;
  const outcomes: Outcome[] = new Array<Outcome>(records.length);
  const jobs: { at: number[]; lines: string[]; bytes: number }[] = [];
  let job = { at: [] as number[], lines: [] as string[], bytes: headerBytes };
  records.forEach((record, i) => {
    const line = csvLine(columns, record);
    const bytes = Buffer.byteLength(line) + 1;
    if (line.length > MAX_BULK_RECORD_CHARS || headerBytes + bytes > limit) {
      outcomes[i] = {
        status: 'rejected',
        reason: `the record is ${line.length} characters of CSV: Bulk API takes at most ${MAX_BULK_RECORD_CHARS} per record and ${limit} bytes per upload`,
        vendorCode: 'local_validation',
      };
      return;
    }
    if (job.bytes + bytes > limit) {
      jobs.push(job);
      job = { at: [], lines: [], bytes: headerBytes };
    }
    job.at.push(i);
    job.lines.push(line);
    job.bytes += bytes;
  });
  if (job.at.length) jobs.push(job);
  for (const { at, lines } of jobs) {
    const csv = `${header}\n${lines.join('\n')}\n`;
    const results = await runJob(
      at.map((i) => records[i]),
      csv,
      ctx,
    );
    at.forEach((index, k) => (outcomes[index] = results[k]));
  }
  return outcomes;
}

/** One ingest job: create → PUT CSV → UploadComplete → poll → results matched back by external id. */
async function runJob(records: SalesforceRecord[], csv: string, ctx: Ctx): Promise<Outcome[]> {
  const { object, externalIdField } = ctx.config;
  const created = await call(
    ctx,
    'POST',
    base(ctx.config),
    JSON.stringify({
      object,
      externalIdFieldName: externalIdField,
      contentType: 'CSV',
      operation: 'upsert',
      lineEnding: 'LF',
    }),
  );
  // In dry-run the job request went to the outbox: there is no job to upload to or poll.
  const dryRun = dryRunOutcomes(created, records.length);
  if (dryRun) return dryRun;
  if (!ok(created) || !isObject(created.json) || typeof created.json.id !== 'string')
    return classify(created, records.length);
  const jobId = created.json.id;
  const jobUrl = `${base(ctx.config)}/${jobId}`;

  const uploaded = await call(ctx, 'PUT', `${jobUrl}/batches`, csv, 'text/csv');
  if (!ok(uploaded)) return classify(uploaded, records.length);
  const closed = await call(ctx, 'PATCH', jobUrl, JSON.stringify({ state: 'UploadComplete' }));
  if (!ok(closed)) return classify(closed, records.length);

  const deadline = ctx.clock.now().getTime() + ctx.config.bulkTimeoutMs;
  let state = '';
  let info: Record<string, unknown> = {};
  while (true) {
    const polled = await call(ctx, 'GET', jobUrl);
    if (!ok(polled)) return classify(polled, records.length);
    info = isObject(polled.json) ? polled.json : {};
    state = String(info.state ?? '');
    if (state === 'JobComplete' || state === 'Failed' || state === 'Aborted') break;
    if (ctx.clock.now().getTime() >= deadline) {
      // Abort so the job does not keep writing (and locking rows) while its records are sent again; upserts are
      // idempotent, so records it already processed are safe to repeat. Best effort: the outcome is retry anyway.
      await call(ctx, 'PATCH', jobUrl, JSON.stringify({ state: 'Aborted' })).catch((error: unknown) => {
        if (!(error instanceof RetryableError)) throw error;
      });
      return times(records.length, {
        status: 'retry',
        reason: `Bulk API job ${jobId} still ${state} after ${ctx.config.bulkTimeoutMs} ms`,
      });
    }
    await ctx.clock.sleep(ctx.config.bulkPollIntervalMs);
  }
  if (state === 'Aborted')
    return times(records.length, { status: 'retry', reason: `Bulk API job ${jobId} was aborted` });
  if (state === 'Failed' && !Number(info.numberRecordsProcessed)) {
    // The whole job failed before any record (bad header, unknown field): one record may be the cause.
    return times(records.length, {
      status: 'rejected',
      reason: `Bulk API job ${jobId} failed: ${String(info.errorMessage ?? '')}`,
      vendorCode: 'JOB_FAILED',
      wholeBatch: true,
    });
  }

  const byExternalId = new Map<string, Outcome>();
  const read = async (kind: 'successfulResults' | 'failedResults' | 'unprocessedrecords') => {
    const response = await call(ctx, 'GET', `${jobUrl}/${kind}/`);
    if (!ok(response))
      throw new RetryableError(`Bulk API ${kind} for job ${jobId}: HTTP ${response.status} ${excerpt(response.body)}`);
    return parseCsv(response.body);
  };
  for (const row of await read('successfulResults'))
    byExternalId.set(row[externalIdField], { status: 'ok', requestId: row.sf__Id || jobId });
  for (const row of await read('failedResults')) {
    // sf__Error is "CODE:message:fields"
    const [code] = (row.sf__Error ?? '').split(':');
    byExternalId.set(
      row[externalIdField],
      outcomeFor(code || undefined, `Salesforce ${row.sf__Error ?? 'error'}`, 200, false),
    );
  }
  for (const row of await read('unprocessedrecords'))
    byExternalId.set(row[externalIdField], { status: 'retry', reason: `not processed by Bulk API job ${jobId}` });
  return records.map(
    (record) =>
      byExternalId.get(String(record[externalIdField])) ?? {
        status: 'retry',
        reason: `Bulk API job ${jobId} returned no result for this record`,
      },
  );
}
