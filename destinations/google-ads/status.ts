/**
 * Data Manager request status: `events:ingest` and `audienceMembers:ingest|remove` answer `{ requestId }` once the
 * request passed validation, and Google processes it afterwards. `GET /v1/requestStatus:retrieve?requestId=…`
 * (https://developers.google.com/data-manager/api/reference/rest/v1/requestStatus/retrieve) tells what became of
 * it, per destination: PROCESSING, SUCCESS, PARTIAL_SUCCESS or FAILED with `errorInfo.errorCounts[{reason,
 * recordCount}]`. This module polls those ids with capped exponential backoff under the read quota and reduces
 * each answer to one `RequestVerification`.
 */
import type { DestinationContext, HttpResponse, RequestVerification } from '../../src/core/destination';
import { RetryableError } from '../../src/core/errors';
import { excerpt, isObject } from '../shared';
import { authorized } from './auth';
import { STATUS_BACKOFF_BASE_MS, STATUS_BACKOFF_CAP_MS, type GoogleAdsConfig } from './config';

type Ctx = DestinationContext<GoogleAdsConfig>;

/** One look at a request: a final or pending verification, or a transient failure to read it (ask again). */
export type StatusRead = { verification: RequestVerification } | { transient: string };

interface Count {
  reason?: unknown;
  recordCount?: unknown;
}

const count = (value: unknown): number | undefined => {
  // int64 fields arrive as JSON strings.
  const n = typeof value === 'string' || typeof value === 'number' ? Number(value) : NaN;
  return Number.isFinite(n) ? n : undefined;
};

function counted(list: unknown): { lines: string[]; total: number } {
  const lines: string[] = [];
  let total = 0;
  for (const c of (Array.isArray(list) ? list : []).filter(isObject) as Count[]) {
    const n = count(c.recordCount);
    total += n ?? 0;
    lines.push(`${typeof c.reason === 'string' ? c.reason : 'UNSPECIFIED'}${n !== undefined ? ` x${n}` : ''}`);
  }
  return { lines, total };
}

/** Records the request carried for one destination: whichever of the union's status fields is present. */
function recordsOf(entry: Record<string, unknown>): number | undefined {
  const get = (path: string[]) =>
    path.reduce<unknown>((node, key) => (isObject(node) ? node[key] : undefined), entry as unknown);
  return (
    count(get(['eventsIngestionStatus', 'recordCount'])) ??
    count(get(['audienceMembersIngestionStatus', 'userDataIngestionStatus', 'recordCount'])) ??
    count(get(['audienceMembersRemovalStatus', 'userDataRemovalStatus', 'recordCount']))
  );
}

/**
 * A `RetrieveRequestStatusResponse` → one verification. A request to several destinations is as good as its worst:
 * any PROCESSING → pending; all SUCCESS → success; all FAILED → failure; anything else → partial.
 */
export function reduceStatus(requestId: string, body: unknown): RequestVerification {
  const entries = (
    isObject(body) && Array.isArray(body.requestStatusPerDestination) ? body.requestStatusPerDestination : []
  ).filter(isObject);
  if (entries.length === 0) return { requestId, status: 'unknown', errors: ['no requestStatusPerDestination'] };
  const states = entries.map((e) => (typeof e.requestStatus === 'string' ? e.requestStatus : 'REQUEST_STATUS_UNKNOWN'));
  const errors: string[] = [];
  const warnings: string[] = [];
  let failed = 0;
  let records = 0;
  let recordsKnown = false;
  for (const entry of entries) {
    const e = counted(isObject(entry.errorInfo) ? entry.errorInfo.errorCounts : undefined);
    const w = counted(isObject(entry.warningInfo) ? entry.warningInfo.warningCounts : undefined);
    const product = isObject(entry.destination) ? entry.destination.productDestinationId : undefined;
    const where = entries.length > 1 && typeof product === 'string' ? `${product}: ` : '';
    errors.push(...e.lines.map((line) => `${where}${line}`));
    warnings.push(...w.lines.map((line) => `${where}${line}`));
    failed += e.total;
    const n = recordsOf(entry);
    if (n !== undefined) {
      records += n;
      recordsKnown = true;
    }
  }
  let status: RequestVerification['status'];
  if (states.includes('PROCESSING')) status = 'pending';
  else if (states.every((s) => s === 'SUCCESS')) status = 'success';
  else if (states.every((s) => s === 'FAILED')) status = 'failure';
  else if (states.every((s) => s === 'REQUEST_STATUS_UNKNOWN')) status = 'unknown';
  else status = 'partial';
  if (status === 'failure' && errors.length === 0) errors.push('FAILED without errorInfo');
  // errorCounts "may not be populated in all cases": a failure without counts failed every record.
  const failedRecords = failed > 0 ? failed : status === 'failure' && recordsKnown ? records : undefined;
  return {
    requestId,
    status,
    ...(recordsKnown ? { records } : {}),
    ...(failedRecords !== undefined ? { failedRecords } : {}),
    errors,
    ...(warnings.length ? { warnings } : {}),
  };
}

/** One status answer → a verification, or a transient failure (quota, 5xx: ask again later; auth.ts owns 401/403). */
export function classifyStatus(requestId: string, response: HttpResponse): StatusRead {
  if (response.status >= 200 && response.status < 300) return { verification: reduceStatus(requestId, response.json) };
  const error = isObject(response.json) && isObject(response.json.error) ? response.json.error : {};
  const code = typeof error.status === 'string' ? error.status : String(response.status);
  const message = typeof error.message === 'string' ? error.message : excerpt(response.body);
  // Google documents no answer for an id it does not know; both shapes seen for a bad id are final for that id.
  if (code === 'NOT_FOUND' || code === 'INVALID_ARGUMENT' || response.status === 404 || response.status === 400)
    return { verification: { requestId, status: 'unknown', errors: [`${code}: ${message}`] } };
  return { transient: `requestStatus ${response.status} ${code}: ${message}` };
}

async function readStatus(requestId: string, ctx: Ctx): Promise<StatusRead> {
  try {
    const response = await authorized(ctx, {
      method: 'GET',
      url: `${ctx.config.endpoint.replace(/\/+$/, '')}/v1/requestStatus:retrieve?requestId=${encodeURIComponent(requestId)}`,
      timeoutMs: ctx.config.timeoutMs,
    });
    return classifyStatus(requestId, response);
  } catch (error) {
    if (error instanceof RetryableError) return { transient: error.message };
    throw error;
  }
}

/**
 * Polls every id until none is PROCESSING or `verifyTimeoutMs` has passed: rounds over the ids still open, paced
 * to `statusRequestsPerMinute`, with capped exponential backoff between rounds. Ids still open at the end come back
 * `pending` (with the last transient error, if reading them failed).
 */
export async function verifyRequests(requestIds: string[], ctx: Ctx): Promise<RequestVerification[]> {
  const ids = [...new Set(requestIds.filter((id) => id && id !== 'dry-run'))];
  const done = new Map<string, RequestVerification>();
  const open = new Map<string, RequestVerification>();
  const spacingMs = Math.ceil(60_000 / ctx.config.statusRequestsPerMinute);
  const deadline = ctx.clock.now().getTime() + ctx.config.verifyTimeoutMs;
  let waiting = ids;
  let lastRead = -Infinity;
  for (let round = 0; waiting.length > 0; round++) {
    const still: string[] = [];
    for (const id of waiting) {
      const gap = lastRead + spacingMs - ctx.clock.now().getTime();
      if (gap > 0) await ctx.clock.sleep(gap);
      lastRead = ctx.clock.now().getTime();
      const read = await readStatus(id, ctx);
      if ('transient' in read) {
        open.set(id, { requestId: id, status: 'pending', errors: [read.transient] });
        still.push(id);
      } else if (read.verification.status === 'pending') {
        open.set(id, read.verification);
        still.push(id);
      } else {
        done.set(id, read.verification);
        open.delete(id);
      }
    }
    waiting = still;
    const left = deadline - ctx.clock.now().getTime();
    if (waiting.length === 0 || left <= 0) break;
    await ctx.clock.sleep(Math.min(left, STATUS_BACKOFF_BASE_MS * 2 ** round, STATUS_BACKOFF_CAP_MS));
  }
  return ids.map((id) => done.get(id) ?? open.get(id) ?? { requestId: id, status: 'pending', errors: [] });
}
