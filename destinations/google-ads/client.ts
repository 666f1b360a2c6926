/**
 * Data Manager API over `ctx.http` (OAuth bearer from `auth.ts`, which owns 401 and 403), and the one table turning its `google.rpc.Status` errors into
 * outcomes. Requests fail fast: one invalid field rejects the whole request. When the BadRequest field violations
 * name the records (`events[3]…`, `audienceMembers[7]…`) those are rejected and the others retried (nothing of
 * the request was ingested); otherwise every record is rejected with `wholeBatch` for the executor to bisect.
 */
import { parseRetryAfter } from '../../src/core/errors';
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, isObject, times, dryRunOutcomes } from '../shared';
import { authorized } from './auth';
import { QUOTA_BACKOFF_MS, type GoogleAdsConfig } from './config';

export async function post(
  path: '/v1/events:ingest' | '/v1/audienceMembers:ingest' | '/v1/audienceMembers:remove',
  body: unknown,
  count: number,
  ctx: DestinationContext<GoogleAdsConfig>,
): Promise<Outcome[]> {
  const response = await authorized(ctx, {
    method: 'POST',
    url: `${ctx.config.endpoint.replace(/\/+$/, '')}${path}`,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    timeoutMs: ctx.config.timeoutMs,
  });
  return classify(response, count);
}

type Action = 'retry' | 'throttle' | 'rejected' | 'invalid';

/** google.rpc.Code name → action. */
const STATUSES: Record<string, Action> = {
  INVALID_ARGUMENT: 'invalid',
  FAILED_PRECONDITION: 'rejected', // account state (e.g. terms not accepted): no record is at fault
  // 401 and 403 fail the run in auth.ts; these stay for answers that carry the code under another HTTP status.
  UNAUTHENTICATED: 'rejected',
  PERMISSION_DENIED: 'rejected',
  NOT_FOUND: 'rejected',
  RESOURCE_EXHAUSTED: 'throttle',
  ABORTED: 'retry',
  UNAVAILABLE: 'retry',
  INTERNAL: 'retry',
  DEADLINE_EXCEEDED: 'retry',
};

interface Violation {
  field?: string;
  description?: string;
}

export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  const { status } = response;
  const body = isObject(response.json) ? response.json : {};
  if (status >= 200 && status < 300) {
    const requestId = typeof body.requestId === 'string' ? body.requestId : undefined;
    return times(count, { status: 'ok', httpStatus: status, ...(requestId ? { requestId } : {}) });
  }
  const error = isObject(body.error) ? body.error : {};
  const code = typeof error.status === 'string' ? error.status : undefined;
  const message = typeof error.message === 'string' ? error.message : excerpt(response.body);
  const reasons = (Array.isArray(error.details) ? error.details : [])
    .filter(isObject)
    .map((d) => d.reason)
    .filter((r): r is string => typeof r === 'string');
  const vendorCode = reasons[0] ?? code;
  const reason = `Data Manager ${status} ${code ?? ''}${reasons.length ? ` (${reasons.join(', ')})` : ''}: ${message}`;
  const action: Action =
    (code && STATUSES[code]) || (status === 429 ? 'throttle' : status >= 500 ? 'retry' : 'invalid');

  switch (action) {
    case 'throttle':
      return times(count, {
        status: 'retry',
        reason,
        httpStatus: status,
        vendorCode,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']) ?? QUOTA_BACKOFF_MS,
      });
    case 'retry':
      return times(count, {
        status: 'retry',
        reason,
        httpStatus: status,
        vendorCode,
        retryAfterMs: parseRetryAfter(response.headers['retry-after']),
      });
    case 'rejected':
      return times(count, { status: 'rejected', reason, httpStatus: status, vendorCode });
    case 'invalid': {
      const named = namedRecords(error.details, count);
      if (named.size === 0)
        return times(count, { status: 'rejected', reason, httpStatus: status, vendorCode, wholeBatch: true });
      return Array.from({ length: count }, (_, i): Outcome => {
        const violation = named.get(i);
        if (violation)
          return {
            status: 'rejected',
            reason: `Data Manager: ${violation.field ?? ''}: ${violation.description ?? message}`,
            httpStatus: status,
            vendorCode,
          };
        return {
          status: 'retry',
          reason: 'not ingested: the request failed fast on another record',
          httpStatus: status,
          vendorCode,
        };
      });
    }
  }
}

/** Record index → its first field violation, from BadRequest details naming `events[i]` or `audienceMembers[i]`. */
function namedRecords(details: unknown, count: number): Map<number, Violation> {
  const named = new Map<number, Violation>();
  for (const detail of Array.isArray(details) ? details.filter(isObject) : []) {
    const violations = (Array.isArray(detail.fieldViolations) ? detail.fieldViolations : []) as Violation[];
    for (const violation of violations) {
      const match = /^(?:events|audience_?[mM]embers)\[(\d+)\]/.exec(violation.field ?? '');
      if (!match) return new Map(); // a request-level violation: no record can be singled out
      const index = Number(match[1]);
      if (index < count && !named.has(index)) named.set(index, violation);
    }
  }
  return named;
}
