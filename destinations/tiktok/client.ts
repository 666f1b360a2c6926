/**
 * TikTok `/open_api/v1.3/event/track/` over `ctx.http`. TikTok answers HTTP 200 with a `code` in the body, so
 * the one table below reads the code first and the HTTP status second.
 */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, isObject, retryFromResponse, times, dryRunOutcomes } from '../shared';
import { THROTTLE_BACKOFF_MS, type TiktokConfig } from './config';
import type { TiktokBody } from './transform';

export async function track(body: TiktokBody, ctx: DestinationContext<TiktokConfig>): Promise<Outcome[]> {
  const response = await ctx.http({
    method: 'POST',
    url: `${ctx.config.endpoint.replace(/\/+$/, '')}/open_api/v1.3/event/track/`,
    headers: { 'content-type': 'application/json', 'access-token': ctx.config.accessToken },
    body: JSON.stringify(body),
    timeoutMs: ctx.config.timeoutMs,
  });
  return classify(response, body.data.length);
}

type Action = 'ok' | 'partial' | 'throttle' | 'retry' | 'auth' | 'invalid';

/** Body `code` → action (Events API return codes). */
const CODES: Record<number, Action> = {
  0: 'ok',
  20001: 'partial', // partial success: some events were not accepted, without saying which
  40100: 'throttle', // too many requests
  40700: 'retry', // internal error
  40001: 'auth', // no permission (token, advertiser or pixel access)
  40105: 'auth', // access token invalid or revoked
  40002: 'invalid', // invalid parameter: one bad event fails the batch
};

export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  const { status } = response;
  const body = isObject(response.json) ? response.json : undefined;
  if (status === 429 || status >= 500)
    return times(count, retryFromResponse(response, `TikTok HTTP ${status}: ${excerpt(response.body)}`));
  if (!body || typeof body.code !== 'number') {
    return times(count, {
      status: 'rejected',
      reason: `TikTok HTTP ${status} without a code: ${excerpt(response.body)}`,
      httpStatus: status,
    });
  }
  const code = body.code;
  const requestId = typeof body.request_id === 'string' ? body.request_id : undefined;
  const reason = `TikTok code ${code}: ${typeof body.message === 'string' ? body.message : ''}`;
  const vendorCode = String(code);
  const action: Action = CODES[code] ?? (code >= 50000 ? 'retry' : 'invalid');
  switch (action) {
    case 'ok':
      return times(count, { status: 'ok', httpStatus: status, ...(requestId ? { requestId } : {}) });
    case 'throttle':
      return times(count, {
        status: 'retry',
        reason,
        httpStatus: status,
        vendorCode,
        retryAfterMs: THROTTLE_BACKOFF_MS,
      });
    case 'retry':
      return times(count, { status: 'retry', reason, httpStatus: status, vendorCode });
    case 'auth':
      return times(count, {
        status: 'rejected',
        reason: `${reason} (check the access token and pixel access)`,
        httpStatus: status,
        vendorCode,
      });
    case 'partial':
      // TikTok does not say which events failed. Bisecting resends the accepted ones too, which event_id
      // deduplication makes harmless, and isolates the failing ones.
      return times(count, { status: 'rejected', reason, httpStatus: status, vendorCode, wholeBatch: true });
    case 'invalid':
      return times(count, { status: 'rejected', reason, httpStatus: status, vendorCode, wholeBatch: true });
  }
}
