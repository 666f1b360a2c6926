/**
 * Fake TikTok Events API v1.3 (`POST /open_api/v1.3/event/track/`). Like TikTok it answers HTTP 200 with a
 * `code` body: 40001 for a wrong Access-Token, 40002 when the batch exceeds 1,000 events or any event is
 * invalid (the whole batch fails), 0 with events stored (deduplicated on pixel + event + event_id) otherwise.
 * `partialFailureNext()` makes the next request answer 20001 (partial success) after storing all but the
 * events flagged with `properties.fail_me`.
 */
import {
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeTiktokOptions extends FakeServerOptions {
  accessToken?: string;
  maxEvents?: number;
}

export interface FakeTiktok extends FakeServer {
  /** Accepted events keyed `${pixel}:${event}:${event_id}`. */
  events: Map<string, Record<string, unknown>>;
}

const SHA256 = /^[0-9a-f]{64}$/;
const SOURCES = ['web', 'app', 'offline', 'crm'];

export async function startFakeTiktok(options: FakeTiktokOptions = {}): Promise<FakeTiktok> {
  const token = options.accessToken ?? 'test-token';
  const maxEvents = options.maxEvents ?? 1000;
  const events = new Map<string, Record<string, unknown>>();
  let counter = 0;
  const reply = (code: number, message: string): FakeResponse => ({
    status: 200,
    body: { code, message, request_id: `req-${++counter}`, data: {} },
  });

  const handle = (request: RecordedRequest): FakeResponse => {
    if (request.path !== '/open_api/v1.3/event/track/' || request.method !== 'POST')
      return { status: 404, body: 'Not Found' };
    if (request.headers['access-token'] !== token) return reply(40001, 'No permission to operate pixel code');
    const body = request.json as Record<string, unknown> | undefined;
    if (!body || !SOURCES.includes(String(body.event_source)) || typeof body.event_source_id !== 'string') {
      return reply(40002, 'event_source and event_source_id are required');
    }
    const data = body.data;
    if (!Array.isArray(data) || data.length === 0) return reply(40002, 'data is required');
    if (data.length > maxEvents) return reply(40002, `data: at most ${maxEvents} events per request`);
    for (const [i, raw] of data.entries()) {
      const problem = eventProblem(raw);
      if (problem) return reply(40002, `data[${i}]: ${problem}`);
    }
    let failed = 0;
    for (const raw of data as Record<string, unknown>[]) {
      if ((raw.properties as Record<string, unknown> | undefined)?.fail_me) {
        failed += 1;
        continue;
      }
      const key = `${String(body.event_source_id)}:${String(raw.event)}:${String(raw.event_id)}`;
      if (options.record !== false && !events.has(key)) events.set(key, raw);
    }
    return failed > 0 ? reply(20001, `Partial success: ${failed} events failed`) : reply(0, 'OK');
  };
  const server = await startFakeServer(handle, options);
  return Object.assign(server, { events });
}

function eventProblem(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return 'not an object';
  const e = raw as Record<string, unknown>;
  if (typeof e.event !== 'string' || e.event === '') return 'event is required';
  if (typeof e.event_time !== 'number' || !Number.isInteger(e.event_time) || e.event_time > 1e11)
    return 'event_time must be Unix seconds';
  const user = (e.user ?? {}) as Record<string, unknown>;
  for (const field of ['email', 'phone', 'external_id']) {
    if (user[field] !== undefined && !SHA256.test(String(user[field]))) return `user.${field} must be SHA-256 hashed`;
  }
  const props = (e.properties ?? {}) as Record<string, unknown>;
  if (props.value !== undefined && typeof props.value !== 'number') return 'properties.value must be a number';
  return undefined;
}
