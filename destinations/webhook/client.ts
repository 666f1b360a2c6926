/** Webhook delivery over `ctx.http`, and the one table turning the receiver's answer into outcomes. */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, retryFromResponse, times, dryRunOutcomes } from '../shared';
import type { WebhookConfig } from './config';
import { serializeBody, sign, type WebhookRecord } from './transform';

/** Posts the records, halving the chunk while its body is above `maxPayloadBytes`. */
export async function deliver(records: WebhookRecord[], ctx: DestinationContext<WebhookConfig>): Promise<Outcome[]> {
  const now = ctx.clock.now();
  const body = serializeBody(records, now);
  const bytes = Buffer.byteLength(body);
  if (bytes > ctx.config.maxPayloadBytes) {
    if (records.length === 1) {
      return [
        {
          status: 'rejected',
          reason: `record is ${bytes} bytes as JSON, above maxPayloadBytes ${ctx.config.maxPayloadBytes}`,
        },
      ];
    }
    const half = Math.ceil(records.length / 2);
    return [...(await deliver(records.slice(0, half), ctx)), ...(await deliver(records.slice(half), ctx))];
  }
  const timestamp = Math.floor(now.getTime() / 1000);
  const response = await ctx.http({
    method: 'POST',
    url: ctx.config.endpoint,
    headers: {
      ...ctx.config.headers,
      'content-type': 'application/json',
      'x-tagpipe-timestamp': String(timestamp),
      'x-tagpipe-signature': sign(ctx.config.secret, timestamp, body),
    },
    body,
    timeoutMs: ctx.config.timeoutMs,
  });
  return classify(response, records.length);
}

/** The receiver refuses the request for a body problem: one record may be at fault, so the executor bisects. */
const BODY_PROBLEMS = new Set([400, 413, 422]);

export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  const { status } = response;
  if (status >= 200 && status < 300)
    return times(count, { status: 'ok', httpStatus: status, requestId: response.headers['x-request-id'] });
  const reason = `webhook answered ${status}: ${excerpt(response.body)}`;
  if (status === 408 || status === 425 || status === 429 || status >= 500)
    return times(count, retryFromResponse(response, reason));
  if (status >= 300 && status < 400) {
    return times(count, {
      status: 'rejected',
      reason: `webhook redirected to ${response.headers.location ?? '?'}; redirects are not followed`,
      httpStatus: status,
    });
  }
  return times(count, {
    status: 'rejected',
    reason,
    httpStatus: status,
    ...(BODY_PROBLEMS.has(status) ? { wholeBatch: true } : {}),
  });
}
