/**
 * Measurement Protocol over `ctx.http`: `/mp/collect`, or `/debug/mp/collect` in validate mode, whose
 * `validationMessages` become rejected outcomes for the events they point at. The one response table is here.
 */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, isObject, retryFromResponse, times, dryRunOutcomes } from '../shared';
import { LIMITS, type Ga4Config } from './config';
import { requestBody, type Ga4Common, type Ga4Event } from './transform';

export function collectUrl(config: Ga4Config, debug: boolean): string {
  const query = new URLSearchParams({ measurement_id: config.measurementId, api_secret: config.apiSecret });
  return `${config.endpoint.replace(/\/+$/, '')}${debug ? '/debug' : ''}/mp/collect?${query.toString()}`;
}

/** Sends one client's events, halving while the body is at or above the 130 kB cap. */
export async function sendEvents(
  common: Ga4Common,
  events: Ga4Event[],
  ctx: DestinationContext<Ga4Config>,
): Promise<Outcome[]> {
  const body = JSON.stringify(requestBody(common, events, ctx.config));
  const bytes = Buffer.byteLength(body);
  if (bytes >= LIMITS.bodyBytes) {
    if (events.length === 1)
      return [
        { status: 'rejected', reason: `event is ${bytes} bytes; Measurement Protocol bodies must stay under 130 kB` },
      ];
    const half = Math.ceil(events.length / 2);
    return [
      ...(await sendEvents(common, events.slice(0, half), ctx)),
      ...(await sendEvents(common, events.slice(half), ctx)),
    ];
  }
  const debug = ctx.validate === true;
  const response = await ctx.http({
    method: 'POST',
    url: collectUrl(ctx.config, debug),
    headers: { 'content-type': 'application/json' },
    body,
    timeoutMs: ctx.config.timeoutMs,
  });
  return debug ? classifyDebug(response, events.length) : classify(response, events.length);
}

/** `/mp/collect` says nothing about content: 2xx is all it can tell. */
export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  const { status } = response;
  if (status >= 200 && status < 300) return times(count, { status: 'ok', httpStatus: status });
  const reason = `GA4 answered ${status}: ${excerpt(response.body)}`;
  if (status === 429 || status >= 500) return times(count, retryFromResponse(response, reason));
  return times(count, { status: 'rejected', reason, httpStatus: status });
}

interface ValidationMessage {
  fieldPath?: string;
  description?: string;
  validationCode?: string;
}

/**
 * Debug endpoint: a message naming an event (`fieldPath: "events"` with "Event at index: [i]" in the
 * description, as in Google's validation examples, or a `events[i]` path) rejects that event; others reject
 * every event of the request.
 */
export function classifyDebug(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  if (response.status < 200 || response.status >= 300) return classify(response, count);
  const messages: ValidationMessage[] =
    isObject(response.json) && Array.isArray(response.json.validationMessages)
      ? (response.json.validationMessages as ValidationMessage[])
      : [];
  const outcomes: Outcome[] = times(count, { status: 'ok', httpStatus: response.status });
  for (const message of messages) {
    const index = /events[.[](\d+)/.exec(message.fieldPath ?? '') ?? /index: \[(\d+)\]/.exec(message.description ?? '');
    const rejected: Outcome = {
      status: 'rejected',
      reason:
        `GA4 validation ${message.validationCode ?? ''} at ${message.fieldPath ?? '(request)'}: ${message.description ?? ''}`.trim(),
      httpStatus: response.status,
      vendorCode: message.validationCode,
    };
    const targets = index ? [Number(index[1])] : outcomes.map((_, i) => i);
    for (const i of targets) if (i < count && outcomes[i].status === 'ok') outcomes[i] = rejected;
  }
  return outcomes;
}
