/**
 * HubSpot batch upsert over `ctx.http`, and the one table turning its answers into outcomes: per-input errors
 * reject only their inputs; 429 waits for Retry-After or the `X-HubSpot-RateLimit-*` window.
 */
import { parseRetryAfter } from '../../src/core/errors';
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { excerpt, isObject, times, dryRunOutcomes } from '../shared';
import { DAILY_LIMIT_BACKOFF_MS, type HubspotConfig } from './config';
import type { HubspotInput } from './transform';

export async function upsert(inputs: HubspotInput[], ctx: DestinationContext<HubspotConfig>): Promise<Outcome[]> {
  const { endpoint, apiVersion, accessToken, timeoutMs } = ctx.config;
  const response = await ctx.http({
    method: 'POST',
    url: `${endpoint.replace(/\/+$/, '')}/crm/objects/${apiVersion}/contacts/batch/upsert`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify({ inputs }),
    timeoutMs,
  });
  return classify(response, inputs);
}

interface HubspotError {
  category?: string;
  message?: string;
  context?: Record<string, unknown>;
}

export function classify(response: HttpResponse, inputs: HubspotInput[]): Outcome[] {
  const dryRun = dryRunOutcomes(response, inputs.length);
  if (dryRun) return dryRun;
  const { status } = response;
  const body = isObject(response.json) ? response.json : {};
  if (status === 200 || status === 201 || status === 207) return perInput(status, body, inputs);
  return requestErrorOutcomes(response, inputs.length);
}

/** A non-2xx HubSpot answer for a whole request (shared with hubspot-events). */
export function requestErrorOutcomes(response: HttpResponse, count: number): Outcome[] {
  const { status } = response;
  const body = isObject(response.json) ? response.json : {};
  const message = typeof body.message === 'string' ? body.message : excerpt(response.body);
  const category = typeof body.category === 'string' ? body.category : undefined;
  const inputs = { length: count };
  if (status === 429) {
    const policy = typeof body.policyName === 'string' ? body.policyName : undefined;
    const windowMs = Number(response.headers['x-hubspot-ratelimit-interval-milliseconds']);
    const retryAfterMs =
      parseRetryAfter(response.headers['retry-after']) ??
      (policy === 'DAILY' ? DAILY_LIMIT_BACKOFF_MS : Number.isFinite(windowMs) && windowMs > 0 ? windowMs : 10_000);
    return times(inputs.length, {
      status: 'retry',
      reason: `HubSpot 429 ${policy ?? ''}: ${message}`.trim(),
      httpStatus: 429,
      retryAfterMs,
      vendorCode: policy ?? 'RATE_LIMIT',
    });
  }
  if (status >= 500)
    return times(inputs.length, {
      status: 'retry',
      reason: `HubSpot ${status}: ${message}`,
      httpStatus: status,
      vendorCode: category,
    });
  if (status === 401 || status === 403) {
    return times(inputs.length, {
      status: 'rejected',
      reason: `HubSpot ${status} ${category ?? ''}: ${message} (check the token and its crm.objects.contacts.write scope)`,
      httpStatus: status,
      vendorCode: category,
    });
  }
  // 400 for the request (e.g. a property that does not exist): HubSpot names no input, the executor bisects.
  return times(inputs.length, {
    status: 'rejected',
    reason: `HubSpot ${status} ${category ?? ''}: ${message}`,
    httpStatus: status,
    vendorCode: category,
    wholeBatch: true,
  });
}

/** Results name upserted contacts by their id property; errors name failed inputs in `context` values. */
function perInput(status: number, body: Record<string, unknown>, inputs: HubspotInput[]): Outcome[] {
  const done = new Set<string>();
  for (const result of Array.isArray(body.results) ? body.results : []) {
    if (!isObject(result)) continue;
    const properties = isObject(result.properties) ? result.properties : {};
    for (const input of inputs) {
      const value = properties[input.idProperty];
      if (typeof value === 'string' && value.toLowerCase() === input.id.toLowerCase()) done.add(input.id);
    }
  }
  const failed = new Map<string, HubspotError>();
  const errors = (Array.isArray(body.errors) ? body.errors : []) as HubspotError[];
  for (const error of errors) {
    const named = Object.values(error.context ?? {})
      .flatMap((v) => (Array.isArray(v) ? v : [v]))
      .map((v) => String(v).toLowerCase());
    for (const input of inputs) if (named.includes(input.id.toLowerCase())) failed.set(input.id, error);
  }
  return inputs.map((input) => {
    const error = failed.get(input.id);
    if (error)
      return {
        status: 'rejected',
        reason: `HubSpot ${error.category ?? 'error'}: ${error.message ?? ''}`,
        httpStatus: status,
        vendorCode: error.category,
      };
    if (done.has(input.id) || errors.length === 0) return { status: 'ok', httpStatus: status };
    // Errors were reported but none names this input, and no result does either: an upsert is safe to repeat.
    return {
      status: 'retry',
      reason: `HubSpot reported ${errors.length} errors without naming this input`,
      httpStatus: status,
    };
  });
}
