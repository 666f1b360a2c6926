/** HubSpot behavioral events batch send over `ctx.http`; errors use the HubSpot request table of `hubspot`. */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { requestErrorOutcomes } from '../hubspot/client';
import { dryRunOutcomes, times } from '../shared';
import type { HubspotEventsConfig } from './config';
import type { HubspotEventInput } from './transform';

export async function sendEvents(
  inputs: HubspotEventInput[],
  ctx: DestinationContext<HubspotEventsConfig>,
): Promise<Outcome[]> {
  const response = await ctx.http({
    method: 'POST',
    url: `${ctx.config.endpoint.replace(/\/+$/, '')}/events/v3/send/batch`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${ctx.config.accessToken}` },
    body: JSON.stringify({ inputs }),
    timeoutMs: ctx.config.timeoutMs,
  });
  return classify(response, inputs.length);
}

/** 204 (or any 2xx): every occurrence accepted; otherwise the whole request failed. */
export function classify(response: HttpResponse, count: number): Outcome[] {
  const dryRun = dryRunOutcomes(response, count);
  if (dryRun) return dryRun;
  if (response.status >= 200 && response.status < 300)
    return times(count, { status: 'ok', httpStatus: response.status });
  return requestErrorOutcomes(response, count);
}
