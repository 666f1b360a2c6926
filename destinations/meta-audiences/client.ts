/** Meta custom audience users add (POST) / remove (DELETE) over `ctx.http`, and the response table. */
import type { DestinationContext, HttpResponse, Outcome } from '../../src/core/destination';
import { classifyGraphError } from '../meta-capi/client';
import { isObject, dryRunOutcomes } from '../shared';
import type { MetaAudiencesConfig } from './config';
import { payload, type MemberRow, type Target } from './transform';

export async function sendMembers(
  target: Target,
  members: MemberRow[],
  ctx: DestinationContext<MetaAudiencesConfig>,
): Promise<Outcome[]> {
  const { endpoint, apiVersion, accessToken, timeoutMs } = ctx.config;
  const response = await ctx.http({
    method: target.method,
    url: `${endpoint.replace(/\/+$/, '')}/${apiVersion}/${target.audienceId}/users`,
    headers: { 'content-type': 'application/json', authorization: `Bearer ${accessToken}` },
    body: JSON.stringify(payload(members)),
    timeoutMs,
  });
  return classify(response, members);
}

/**
 * 200 answers count invalid entries and show a few samples; members matching a sample are rejected, the rest
 * are ok (Meta names no more than the samples). Errors go through the Graph API table shared with meta-capi.
 */
export function classify(response: HttpResponse, members: MemberRow[]): Outcome[] {
  const dryRun = dryRunOutcomes(response, members.length);
  if (dryRun) return dryRun;
  if (response.status < 200 || response.status >= 300) return classifyGraphError(response, members.length);
  const body = isObject(response.json) ? response.json : {};
  const samples = new Set(
    Array.isArray(body.invalid_entry_samples) ? body.invalid_entry_samples.map((s) => String(s)) : [],
  );
  const requestId = typeof body.session_id === 'string' ? body.session_id : undefined;
  return members.map((member) => {
    const sample = member.join(',');
    if (samples.has(sample) || member.some((value) => samples.has(value))) {
      return {
        status: 'rejected',
        reason: 'Meta counted this member as an invalid entry',
        httpStatus: response.status,
        vendorCode: 'invalid_entry',
      };
    }
    return { status: 'ok', httpStatus: response.status, ...(requestId ? { requestId } : {}) };
  });
}
