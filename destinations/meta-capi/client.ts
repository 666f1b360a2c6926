/**
 * Meta Conversions API over `ctx.http`, and the one table turning Graph API answers into outcomes.
 * Error codes: Graph API error reference and the classification used by public CAPI connectors
 * (https://developers.facebook.com/docs/graph-api/guides/error-handling/).
 */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, isObject, retryFromResponse, times, dryRunOutcomes } from '../shared';
import { THROTTLE_BACKOFF_MS, type MetaCapiConfig } from './config';
import type { MetaRequestBody } from './transform';

/**
 * The token goes in the `access_token` query parameter, as Meta documents; the HTTP client never puts query
 * strings in error messages and the dry-run outbox masks it.
 */
export function eventsUrl(config: MetaCapiConfig): string {
  const query = new URLSearchParams({ access_token: config.accessToken });
  return `${config.endpoint.replace(/\/+$/, '')}/${config.apiVersion}/${config.pixelId}/events?${query.toString()}`;
}

export async function postEvents(body: MetaRequestBody, ctx: DestinationContext<MetaCapiConfig>): Promise<Outcome[]> {
  const response = await ctx.http({
    method: 'POST',
    url: eventsUrl(ctx.config),
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
    timeoutMs: ctx.config.timeoutMs,
  });
  return classify(response, body.data.length);
}

type Action = 'permanent' | 'reauth' | 'retry' | 'throttle';

/** Graph API error code → action. Subcodes under 100 (e.g. 2804003 event too old) are all per-event problems. */
const ERROR_CODES: Record<number, Action> = {
  100: 'permanent', // invalid parameter (bad event field, too old, …)
  33: 'permanent', // object does not exist (wrong pixel id)
  190: 'reauth', // access token invalid or expired (subcode 460: password changed)
  3: 'reauth', // capability missing
  200: 'reauth', // permission denied
  294: 'reauth', // managing ads requires extended permission
  1: 'retry', // unknown error
  2: 'retry', // service temporarily unavailable
  341: 'retry', // application limit reached (transient)
  368: 'retry', // temporarily blocked
  5000: 'retry', // unknown error code
  4: 'throttle', // application request limit
  17: 'throttle', // user request limit
  80003: 'throttle', // custom audience / ads insights rate limit
};

export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  const { status } = response;
  if (status >= 200 && status < 300) {
    const received = isObject(response.json) ? response.json.events_received : undefined;
    const traceId = isObject(response.json) ? response.json.fbtrace_id : undefined;
    if (typeof received === 'number' && received !== count) {
      // Meta accepted the request but counted fewer events: nothing says which, so retrying is the safe side
      // (event_id dedup makes a resend harmless).
      return times(count, {
        status: 'retry',
        reason: `Meta received ${received} of ${count} events`,
        httpStatus: status,
      });
    }
    return times(count, {
      status: 'ok',
      httpStatus: status,
      requestId: typeof traceId === 'string' ? traceId : undefined,
    });
  }

  return classifyGraphError(response, count);
}

/** Graph API error answer → one outcome per record (shared with meta-audiences). */
export function classifyGraphError(response: HttpResponse, count: number): Outcome[] {
  const { status } = response;
  const error = isObject(response.json) && isObject(response.json.error) ? response.json.error : undefined;
  const code = typeof error?.code === 'number' ? error.code : undefined;
  const subcode = typeof error?.error_subcode === 'number' ? error.error_subcode : undefined;
  const vendorCode = code === undefined ? undefined : subcode === undefined ? String(code) : `${code}/${subcode}`;
  const message = error
    ? [error.message, error.error_user_title, error.error_user_msg].filter((s) => typeof s === 'string').join(' — ')
    : excerpt(response.body);
  const reason = `Meta ${status}${vendorCode ? ` (${vendorCode})` : ''}: ${message}`;

  let action: Action | undefined = code === undefined ? undefined : ERROR_CODES[code];
  if (!action && error?.is_transient === true) action = 'retry';
  if (!action) action = status === 429 || status >= 500 ? 'retry' : 'permanent';

  switch (action) {
    case 'throttle': {
      const outcome = retryFromResponse(response, reason, vendorCode);
      return times(count, { ...outcome, retryAfterMs: outcome.retryAfterMs ?? THROTTLE_BACKOFF_MS });
    }
    case 'retry':
      return times(count, retryFromResponse(response, reason, vendorCode));
    case 'reauth':
      // The token or its permissions are wrong: no record is at fault, so no bisection.
      return times(count, {
        status: 'rejected',
        reason: `${reason} (check the access token and its permissions)`,
        httpStatus: status,
        vendorCode,
      });
    case 'permanent':
      // Meta refuses the whole request for one invalid event without naming it: the executor bisects.
      return times(count, { status: 'rejected', reason, httpStatus: status, vendorCode, wholeBatch: true });
  }
}
