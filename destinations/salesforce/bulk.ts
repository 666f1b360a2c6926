/**
 * Salesforce Bulk API 2.0 upsert for large batches
 * (https://developer.salesforce.com/docs/atlas.en-us.api_asynch.meta/api_asynch/bulk_api_2_0.htm):
 * create job → PUT CSV → UploadComplete → poll until JobComplete → read successfulResults, failedResults and
 * unprocessedrecords, matched back to records by external id.
 */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { RetryableError } from '../../src/core/errors';
import { dryRunOutcomes, excerpt, isObject, times } from '../shared';
import { classify, outcomeFor } from './client';
import type { SalesforceConfig } from './config';
import { parseCsv, toCsv } from './csv';
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
  return ctx.http({
    method,
    url,
    headers: {
      authorization: `Bearer ${ctx.config.accessToken}`,
      ...(body !== undefined ? { 'content-type': contentType } : {}),
      accept: 'application/json',
    },
    body,
    timeoutMs: ctx.config.timeoutMs,
  });
}

const ok = (response: HttpResponse) => response.status >= 200 && response.status < 300;

export async function bulkUpsert(records: SalesforceRecord[], ctx: Ctx): Promise<Outcome[]> {
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

  const columns = [...new Set(records.flatMap((r) => Object.keys(r).filter((k) => k !== 'attributes')))];
  const uploaded = await call(ctx, 'PUT', `${jobUrl}/batches`, toCsv(columns, records), 'text/csv');
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
      // Upserts are idempotent: resending later is safe even if the job still finishes.
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
