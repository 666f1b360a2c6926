/**
 * Fake Graph API for the Conversions API (`POST /{version}/{pixel}/events`) and custom audience users
 * (`POST|DELETE /{version}/{audience}/users`), enforcing Meta's documented behaviour: token check (code 190),
 * at most 1,000 events per request, required fields, `event_time` no older than 7 days (subcode 2804003), hashed
 * fields must be SHA-256 hex, and one invalid event rejects the whole request (code 100) without naming it.
 */
import {
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeMetaOptions extends FakeServerOptions {
  accessToken?: string;
  /** Clock for the 7-day check. */
  now?: () => Date;
  maxEvents?: number;
  maxAudienceRows?: number;
}

export interface FakeMeta extends FakeServer {
  /** Events accepted, deduplicated on (event_name, event_id) the way Meta does within 48 h. */
  events: Map<string, Record<string, unknown>>;
  /** Audience id → member rows (schema-keyed), after adds and removes. */
  audiences: Map<string, Map<string, Record<string, string>>>;
}

const SHA256 = /^[0-9a-f]{64}$/;
const HASHED_FIELDS = ['em', 'ph', 'fn', 'ln', 'ge', 'db', 'ct', 'st', 'zp', 'country', 'external_id'];
const ACTION_SOURCES = [
  'website',
  'app',
  'email',
  'phone_call',
  'chat',
  'physical_store',
  'system_generated',
  'business_messaging',
  'other',
];
const AUDIENCE_SCHEMAS = [
  'EMAIL_SHA256',
  'PHONE_SHA256',
  'EMAIL',
  'PHONE',
  'EXTERN_ID',
  'MADID',
  'FN',
  'LN',
  'COUNTRY',
];

function graphError(status: number, code: number, message: string, subcode?: number): FakeResponse {
  return {
    status,
    body: {
      error: {
        message,
        type: 'OAuthException',
        code,
        ...(subcode ? { error_subcode: subcode } : {}),
        fbtrace_id: 'AbCdEf',
      },
    },
  };
}

export async function startFakeMeta(options: FakeMetaOptions = {}): Promise<FakeMeta> {
  const token = options.accessToken ?? 'test-token';
  const now = options.now ?? (() => new Date());
  const maxEvents = options.maxEvents ?? 1000;
  const maxAudienceRows = options.maxAudienceRows ?? 10_000;
  const events = new Map<string, Record<string, unknown>>();
  const audiences = new Map<string, Map<string, Record<string, string>>>();

  const handle = (request: RecordedRequest): FakeResponse => {
    const body = (request.json ?? {}) as Record<string, unknown>;
    const presented =
      request.query.access_token ??
      (body.access_token as string | undefined) ??
      request.headers.authorization?.replace(/^(Bearer|OAuth) /, '');
    const events_ = /^\/v\d+\.\d+\/(\d+)\/events$/.exec(request.path);
    const users = /^\/v\d+\.\d+\/(\d+)\/users$/.exec(request.path);
    if (!events_ && !users)
      return graphError(400, 100, `Unsupported request - method type: ${request.method.toLowerCase()}`);
    if (presented !== token) return graphError(400, 190, 'Invalid OAuth access token - Cannot parse access token');
    if (events_ && request.method === 'POST') return handleEvents(body);
    if (users && (request.method === 'POST' || request.method === 'DELETE'))
      return handleUsers(users[1], request.method, body);
    return graphError(400, 100, 'Unsupported request');
  };

  const handleEvents = (body: Record<string, unknown>): FakeResponse => {
    const data = body.data;
    if (!Array.isArray(data) || data.length === 0) return graphError(400, 100, 'The parameter data is required');
    if (data.length > maxEvents)
      return graphError(400, 100, `Invalid parameter: a batch can contain at most ${maxEvents} events`, 2804019);
    for (const raw of data) {
      const problem = eventProblem(raw, now());
      // Whole request refused; Meta's message does not identify the event reliably.
      if (problem) return graphError(400, 100, `Invalid parameter: ${problem.message}`, problem.subcode);
    }
    for (const raw of data as Record<string, unknown>[]) {
      const key = `${String(raw.event_name)}:${String(raw.event_id)}`;
      if (options.record !== false && !events.has(key)) events.set(key, raw);
    }
    return { status: 200, body: { events_received: data.length, messages: [], fbtrace_id: `trace-${events.size}` } };
  };

  const handleUsers = (audienceId: string, method: string, body: Record<string, unknown>): FakeResponse => {
    const payload = (typeof body.payload === 'string' ? JSON.parse(body.payload) : body.payload) as
      Record<string, unknown> | undefined;
    if (!payload) return graphError(400, 100, 'The parameter payload is required');
    const schema = typeof payload.schema === 'string' ? [payload.schema] : payload.schema;
    if (!Array.isArray(schema) || schema.length === 0 || !schema.every((s) => AUDIENCE_SCHEMAS.includes(String(s)))) {
      return graphError(400, 100, 'Invalid parameter: payload.schema');
    }
    const data = payload.data;
    if (!Array.isArray(data) || data.length === 0)
      return graphError(400, 100, 'Invalid parameter: payload.data is empty');
    if (data.length > maxAudienceRows)
      return graphError(400, 100, `Invalid parameter: at most ${maxAudienceRows} users per request`);
    const members = audiences.get(audienceId) ?? new Map<string, Record<string, string>>();
    audiences.set(audienceId, members);
    let invalid = 0;
    const samples: string[] = [];
    for (const raw of data) {
      const values = (Array.isArray(raw) ? raw : [raw]).map(String);
      const hashedOk = values.every((v, i) => v === '' || !String(schema[i]).endsWith('SHA256') || SHA256.test(v));
      if (values.length !== schema.length || !hashedOk || values.every((v) => v === '')) {
        invalid += 1;
        if (samples.length < 5) samples.push(values.join(','));
        continue;
      }
      const key = values.join('|');
      if (method === 'POST') members.set(key, Object.fromEntries(schema.map((s, i) => [String(s), values[i]])));
      else members.delete(key);
    }
    return {
      status: 200,
      body: {
        audience_id: audienceId,
        session_id: 'sess-1',
        num_received: data.length,
        num_invalid_entries: invalid,
        invalid_entry_samples: samples,
      },
    };
  };

  const server = await startFakeServer(handle, options);
  return Object.assign(server, { events, audiences });
}

function eventProblem(raw: unknown, now: Date): { message: string; subcode?: number } | undefined {
  if (typeof raw !== 'object' || raw === null) return { message: 'event is not an object' };
  const event = raw as Record<string, unknown>;
  if (typeof event.event_name !== 'string' || event.event_name === '') return { message: 'event_name is required' };
  if (typeof event.event_time !== 'number' || !Number.isInteger(event.event_time))
    return { message: 'event_time must be Unix seconds' };
  const age = now.getTime() / 1000 - event.event_time;
  if (age > 7 * 86400) return { message: 'event_time is too far in the past', subcode: 2804003 };
  if (age < -7 * 60) return { message: 'event_time is in the future', subcode: 2804004 };
  if (!ACTION_SOURCES.includes(String(event.action_source))) return { message: 'action_source is invalid' };
  const user = event.user_data as Record<string, unknown> | undefined;
  if (typeof user !== 'object' || user === null) return { message: 'user_data is required' };
  if (event.action_source === 'website') {
    if (typeof event.event_source_url !== 'string')
      return { message: 'event_source_url is required for website events' };
    if (typeof user.client_user_agent !== 'string')
      return { message: 'client_user_agent is required for website events' };
  }
  for (const field of HASHED_FIELDS) {
    const value = user[field];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    if (!values.every((v) => typeof v === 'string' && SHA256.test(v)))
      return { message: `user_data.${field} must be SHA-256 hashed`, subcode: 2804001 };
  }
  if (event.custom_data !== undefined) {
    const custom = event.custom_data as Record<string, unknown>;
    if (custom.value !== undefined && typeof custom.value !== 'number')
      return { message: 'custom_data.value must be a number' };
    if (custom.currency !== undefined && !/^[A-Z]{3}$/.test(String(custom.currency)))
      return { message: 'custom_data.currency is invalid' };
  }
  return undefined;
}
