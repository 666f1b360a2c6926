/**
 * Fake HubSpot CRM contacts batch upsert (`POST /crm/objects/{version}/contacts/batch/upsert`, legacy
 * `/crm/v3/...` too). Enforces: Bearer token (401 INVALID_AUTHENTICATION), at most 100 inputs (400
 * VALIDATION_ERROR), unknown properties fail the whole request (400 PROPERTY_DOESNT_EXIST), an invalid email id
 * fails only its input (207 with `errors[]` naming it in `context.ids`), an id given twice fails the request, and the 190-per-10-s limit (429 with
 * `X-HubSpot-RateLimit-*` headers and the SECONDLY policy body). Behavioral events (`/events/v3/send/batch`):
 * 204 for the batch, 400 for the whole batch on an unknown event or a bad identity.
 */
import {
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeHubspotOptions extends FakeServerOptions {
  accessToken?: string;
  maxInputs?: number;
  /** Properties that exist in the portal; others fail the request. */
  knownProperties?: string[];
  /** Requests allowed per rolling 10 s (default 190). */
  rateLimitPer10s?: number;
  now?: () => number;
  /** Fully qualified behavioral event names that exist (default: any pe{HubID}_{name}). */
  knownEvents?: string[];
  maxEvents?: number;
}

export interface FakeHubspot extends FakeServer {
  /** Behavioral event occurrences accepted by /events/v3/send/batch. */
  events: Record<string, unknown>[];
  /** Contacts by lowercased email → properties. */
  contacts: Map<string, Record<string, string>>;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;
const DEFAULT_PROPERTIES = [
  'email',
  'firstname',
  'lastname',
  'phone',
  'lifecyclestage',
  'company',
  'website',
  'tagpipe_person_id',
  'tagpipe_lifetime_value',
  'tagpipe_purchase_count',
  'tagpipe_last_seen_at',
];

const error = (
  status: number,
  category: string,
  message: string,
  extra: Record<string, unknown> = {},
): FakeResponse => ({
  status,
  body: { status: 'error', message, correlationId: 'c0ffee', category, ...extra },
});

export async function startFakeHubspot(options: FakeHubspotOptions = {}): Promise<FakeHubspot> {
  const token = options.accessToken ?? 'test-token';
  const maxInputs = options.maxInputs ?? 100;
  const known = new Set(options.knownProperties ?? DEFAULT_PROPERTIES);
  const perWindow = options.rateLimitPer10s ?? 190;
  const now = options.now ?? (() => Date.now());
  const contacts = new Map<string, Record<string, string>>();
  const recent: number[] = [];
  let nextId = 1000;

  const handle = (request: RecordedRequest): FakeResponse => {
    if (request.path === '/events/v3/send/batch') return handleEvents(request);
    if (
      !/^\/crm\/(objects\/\d{4}-\d{2}|v3\/objects)\/contacts\/batch\/upsert$/.test(request.path) ||
      request.method !== 'POST'
    ) {
      return error(404, 'OBJECT_NOT_FOUND', 'Not found');
    }
    if (request.headers.authorization !== `Bearer ${token}`) {
      return error(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found.');
    }
    const t = now();
    while (recent.length > 0 && recent[0] <= t - 10_000) recent.shift();
    if (recent.length >= perWindow) {
      return {
        status: 429,
        headers: {
          'x-hubspot-ratelimit-interval-milliseconds': '10000',
          'x-hubspot-ratelimit-max': String(perWindow),
          'x-hubspot-ratelimit-remaining': '0',
        },
        body: {
          status: 'error',
          message: 'You have reached your secondly limit.',
          errorType: 'RATE_LIMIT',
          policyName: 'SECONDLY',
          correlationId: 'x',
        },
      };
    }
    recent.push(t);
    const inputs = (request.json as { inputs?: unknown } | undefined)?.inputs;
    if (!Array.isArray(inputs)) return error(400, 'VALIDATION_ERROR', 'Invalid input JSON: inputs is required');
    if (inputs.length > maxInputs)
      return error(400, 'VALIDATION_ERROR', `Batch input size ${inputs.length} exceeds the limit of ${maxInputs}`);
    for (const raw of inputs as { properties?: Record<string, unknown> }[]) {
      for (const name of Object.keys(raw.properties ?? {})) {
        if (!known.has(name))
          return error(400, 'VALIDATION_ERROR', `Property values were not valid: "${name}" does not exist`, {
            subCategory: 'PROPERTY_DOESNT_EXIST',
          });
      }
    }
    const ids = (inputs as { id?: string }[]).map((x) => String(x.id).toLowerCase());
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (dupes.length > 0)
      return error(
        400,
        'VALIDATION_ERROR',
        `Duplicate IDs found in batch input: [${dupes.join(', ')}]. IDs must be unique`,
      );
    const results: unknown[] = [];
    const errors: unknown[] = [];
    for (const raw of inputs as { id?: string; idProperty?: string; properties?: Record<string, string> }[]) {
      if (raw.idProperty !== 'email' || typeof raw.id !== 'string' || !EMAIL.test(raw.id)) {
        errors.push({
          status: 'error',
          category: 'VALIDATION_ERROR',
          message: `Email address ${String(raw.id)} is invalid`,
          context: { ids: [String(raw.id)] },
        });
        continue;
      }
      const email = raw.id.toLowerCase();
      const existed = contacts.has(email);
      const merged: Record<string, string> = {
        ...(contacts.get(email) ?? { hs_object_id: String(nextId++) }),
        ...(raw.properties ?? {}),
        email,
      };
      contacts.set(email, merged);
      results.push({
        id: merged.hs_object_id,
        properties: merged,
        new: !existed,
        createdAt: new Date(t).toISOString(),
      });
    }
    const status = errors.length > 0 ? 207 : 200;
    return {
      status,
      body: { status: 'COMPLETE', results, ...(errors.length ? { errors, numErrors: errors.length } : {}) },
    };
  };
  /** Behavioral events: all-or-nothing batches answered 204, unknown events and bad identities fail the request. */
  const events: FakeHubspot['events'] = [];
  const knownEvents = options.knownEvents ? new Set(options.knownEvents) : undefined;
  const handleEvents = (request: RecordedRequest): FakeResponse => {
    if (request.method !== 'POST') return error(405, 'METHOD_NOT_ALLOWED', 'Method not allowed');
    if (request.headers.authorization !== `Bearer ${token}`)
      return error(401, 'INVALID_AUTHENTICATION', 'Authentication credentials not found.');
    const inputs = (request.json as { inputs?: Record<string, unknown>[] } | undefined)?.inputs;
    if (!Array.isArray(inputs) || inputs.length === 0) return error(400, 'VALIDATION_ERROR', 'inputs is required');
    if (inputs.length > (options.maxEvents ?? 100))
      return error(400, 'VALIDATION_ERROR', `Batch input size ${inputs.length} exceeds the limit`);
    for (const [i, input] of inputs.entries()) {
      const name = String(input.eventName);
      if (!/^pe\d+_[a-z0-9_]+$/.test(name) || (knownEvents && !knownEvents.has(name))) {
        return error(400, 'VALIDATION_ERROR', `inputs[${i}]: event ${name} does not exist`);
      }
      const identities = ['email', 'utk', 'objectId'].filter((k) => input[k] !== undefined);
      if (identities.length !== 1)
        return error(400, 'VALIDATION_ERROR', `inputs[${i}]: exactly one of email, utk, objectId is required`);
      if (input.email !== undefined && !EMAIL.test(String(input.email)))
        return error(400, 'VALIDATION_ERROR', `inputs[${i}]: invalid email`);
      if (input.occurredAt !== undefined && Number.isNaN(Date.parse(String(input.occurredAt)))) {
        return error(400, 'VALIDATION_ERROR', `inputs[${i}]: occurredAt is not ISO-8601`);
      }
    }
    events.push(...inputs);
    return { status: 204 };
  };

  const server = await startFakeServer(handle, options);
  return Object.assign(server, { contacts, events });
}
