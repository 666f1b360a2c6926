/**
 * Salesforce collections upsert over `ctx.http` (through `authorized`, which renews expired sessions), and the one table turning REST API answers into outcomes:
 * a 200 carries ordered per-record results; whole-request errors come as `[{ message, errorCode }]`.
 */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, isObject, retryFromResponse, times, dryRunOutcomes } from '../shared';
import { authorized } from './auth';
import { REQUEST_LIMIT_BACKOFF_MS, type SalesforceConfig } from './config';
import { requestBody, type SalesforceRecord } from './transform';

export async function upsertRecords(
  records: SalesforceRecord[],
  ctx: DestinationContext<SalesforceConfig>,
): Promise<Outcome[]> {
  const { endpoint, apiVersion, object, externalIdField, timeoutMs } = ctx.config;
  const response = await authorized(ctx, {
    method: 'PATCH',
    url: `${endpoint.replace(/\/+$/, '')}/services/data/${apiVersion}/composite/sobjects/${object}/${externalIdField}`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(requestBody(records)),
    timeoutMs,
  });
  return classify(response, records.length);
}

type Action = 'retry' | 'throttle' | 'rejected';

/**
 * errorCode / statusCode → action; anything else is permanent. 401 INVALID_SESSION_ID never gets here: `authorized`
 * renews the token and resends, or fails the run.
 */
const CODES: Record<string, Action> = {
  REQUEST_LIMIT_EXCEEDED: 'throttle',
  UNABLE_TO_LOCK_ROW: 'retry',
  SERVER_UNAVAILABLE: 'retry',
  // More than one record has this external id (HTTP 300 on single upserts): nothing was written.
  DUPLICATE_EXTERNAL_ID: 'rejected',
};

interface SalesforceError {
  message?: string;
  errorCode?: string;
  statusCode?: string;
  fields?: string[];
}

export function outcomeFor(code: string | undefined, reason: string, httpStatus: number, wholeBatch: boolean): Outcome {
  const action = (code && CODES[code]) || 'rejected';
  switch (action) {
    case 'throttle':
      return { status: 'retry', reason, httpStatus, vendorCode: code, retryAfterMs: REQUEST_LIMIT_BACKOFF_MS };
    case 'retry':
      return { status: 'retry', reason, httpStatus, vendorCode: code };
    case 'rejected':
      return { status: 'rejected', reason, httpStatus, vendorCode: code, ...(wholeBatch ? { wholeBatch: true } : {}) };
  }
}

function describe(error: SalesforceError): string {
  const code = error.statusCode ?? error.errorCode ?? 'ERROR';
  const fields = error.fields && error.fields.length > 0 ? ` [${error.fields.join(', ')}]` : '';
  return `Salesforce ${code}${fields}: ${error.message ?? ''}`;
}

export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  const { status } = response;
  if (status === 200 && Array.isArray(response.json)) {
    const results = response.json as { id?: string; success?: boolean; errors?: SalesforceError[] }[];
    if (results.length !== count) {
      return times(count, {
        status: 'retry',
        reason: `Salesforce returned ${results.length} results for ${count} records`,
        httpStatus: status,
      });
    }
    return results.map((result) => {
      if (result.success) return { status: 'ok', httpStatus: status, ...(result.id ? { requestId: result.id } : {}) };
      const error = result.errors?.[0] ?? {};
      return outcomeFor(error.statusCode ?? error.errorCode, describe(error), status, false);
    });
  }
  if (status === 300) {
    // Several records carry this external id (single-record upsert answer; collections report it per record as
    // DUPLICATE_EXTERNAL_ID): nothing was written and retrying cannot help.
    return times(count, {
      status: 'rejected',
      reason: 'Salesforce 300: the external id matches several records; nothing was written',
      httpStatus: 300,
      vendorCode: 'MULTIPLE_CHOICES',
    });
  }
  const error: SalesforceError =
    Array.isArray(response.json) && isObject(response.json[0]) ? (response.json[0] as SalesforceError) : {};
  const code = error.errorCode ?? error.statusCode;
  if (!code) {
    if (status === 429 || status >= 500)
      return times(count, retryFromResponse(response, `Salesforce ${status}: ${excerpt(response.body)}`));
    return times(count, {
      status: 'rejected',
      reason: `Salesforce ${status}: ${excerpt(response.body)}`,
      httpStatus: status,
      wholeBatch: status === 400,
    });
  }
  if (status >= 500 && !CODES[code])
    return times(count, { status: 'retry', reason: describe(error), httpStatus: status, vendorCode: code });
  // A 400 for the request (bad field, malformed value) may come from one record: bisect. 404 means the object or
  // field does not exist at all: no record is at fault.
  return times(count, outcomeFor(code, describe(error), status, status === 400));
}
