/**
 * Fake GA4 Measurement Protocol. `/mp/collect` behaves like Google's: it answers 204 to anything and silently
 * drops what is invalid (so tests see what would really land in `collected`); `/debug/mp/collect` records
 * nothing and answers `{ validationMessages: [{ fieldPath, description, validationCode }] }` in the shape of
 * Google's validation examples ("Event at index: [i] …").
 */
import {
  bodyBytes,
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeGa4Options extends FakeServerOptions {
  now?: () => Date;
}

export interface CollectedEvent {
  client_id: string;
  user_id?: string;
  name: string;
  params: Record<string, unknown>;
  timestamp_micros?: number;
  consent?: unknown;
  user_data?: unknown;
}

export interface FakeGa4 extends FakeServer {
  collected: CollectedEvent[];
  /** Requests /mp/collect accepted with 2xx but threw away. */
  dropped: number;
}

interface Message {
  fieldPath: string;
  description: string;
  validationCode: string;
}

const NAME = /^[A-Za-z][A-Za-z0-9_]{0,39}$/;
const RESERVED_EVENTS = new Set([
  'ad_click',
  'app_remove',
  'error',
  'first_open',
  'first_visit',
  'session_start',
  'user_engagement',
  'screen_view',
  'in_app_purchase',
]);

export function validateMp(body: unknown, bytes: number, now: Date): Message[] {
  const messages: Message[] = [];
  const add = (fieldPath: string, description: string, validationCode: string) =>
    messages.push({ fieldPath, description, validationCode });
  if (bytes >= 130_000) add('', 'Request body is too large.', 'VALUE_OUT_OF_BOUNDS');
  if (typeof body !== 'object' || body === null) {
    add('', 'Request body is not valid JSON.', 'VALUE_INVALID');
    return messages;
  }
  const b = body as Record<string, unknown>;
  if (typeof b.client_id !== 'string' || b.client_id === '')
    add('client_id', 'Measurement requires a client_id.', 'VALUE_REQUIRED');
  const events = b.events;
  if (!Array.isArray(events) || events.length === 0) {
    add('events', 'Measurement requires at least one event.', 'VALUE_REQUIRED');
    return messages;
  }
  if (events.length > 25)
    add('events', `Measurement has ${events.length} events; at most 25 are allowed.`, 'VALUE_OUT_OF_BOUNDS');
  events.forEach((raw, i) => {
    const event = raw as { name?: unknown; params?: Record<string, unknown>; timestamp_micros?: unknown };
    const name = typeof event.name === 'string' ? event.name : '';
    if (!NAME.test(name) || /^(google_|ga_|firebase_)/.test(name))
      add('events', `Event at index: [${i}] has invalid name [${name}].`, 'NAME_INVALID');
    else if (RESERVED_EVENTS.has(name))
      add('events', `Event at index: [${i}] has name [${name}] which is reserved.`, 'NAME_RESERVED');
    const params = event.params ?? {};
    if (Object.keys(params).length > 25)
      add('events.params', `Event at index: [${i}] has more than 25 params.`, 'VALUE_OUT_OF_BOUNDS');
    for (const [key, value] of Object.entries(params)) {
      if (!NAME.test(key)) add('events.params', `Event at index: [${i}] has invalid param [${key}].`, 'NAME_INVALID');
      if (typeof value === 'string' && value.length > 100)
        add('events.params', `Event at index: [${i}] has param [${key}] longer than 100.`, 'VALUE_OUT_OF_BOUNDS');
    }
    if (params.currency !== undefined && !/^[A-Z]{3}$/.test(String(params.currency))) {
      add(
        'events.params.currency',
        `Event at index: [${i}] has invalid currency [${String(params.currency)}].`,
        'VALUE_INVALID',
      );
    }
    if (typeof event.timestamp_micros === 'number' && now.getTime() * 1000 - event.timestamp_micros > 72 * 3600 * 1e6) {
      add('events.timestamp_micros', `Event at index: [${i}] is older than 72 hours.`, 'VALUE_OUT_OF_BOUNDS');
    }
  });
  return messages;
}

export async function startFakeGa4(options: FakeGa4Options = {}): Promise<FakeGa4> {
  const now = options.now ?? (() => new Date());
  const collected: CollectedEvent[] = [];
  const state = { dropped: 0 };
  const handle = (request: RecordedRequest): FakeResponse => {
    if (request.method !== 'POST') return { status: 405, body: '' };
    const debug = request.path === '/debug/mp/collect';
    if (!debug && request.path !== '/mp/collect') return { status: 404, body: 'not found' };
    const messages = validateMp(request.json, bodyBytes(request), now());
    if (debug) return { status: 200, body: { validationMessages: messages } };
    if (!request.query.measurement_id || !request.query.api_secret || messages.length > 0) {
      state.dropped += 1;
      return { status: 204 };
    }
    const body = request.json as Record<string, unknown> & { events: Omit<CollectedEvent, 'client_id'>[] };
    for (const event of options.record === false ? [] : body.events) {
      collected.push({
        client_id: body.client_id as string,
        ...(body.user_id ? { user_id: body.user_id as string } : {}),
        ...(body.consent ? { consent: body.consent } : {}),
        ...(body.user_data ? { user_data: body.user_data } : {}),
        ...event,
      });
    }
    return { status: 204 };
  };
  const server = await startFakeServer(handle, options);
  // A live getter: Object.assign would copy the value once.
  return Object.defineProperties(Object.assign(server, { collected }), {
    dropped: { get: () => state.dropped, enumerable: true },
  }) as FakeGa4;
}
