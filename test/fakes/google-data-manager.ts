/**
 * Fake Google Data Manager API (`/v1/events:ingest`, `/v1/audienceMembers:ingest`, `/v1/audienceMembers:remove`).
 * Enforces: OAuth bearer (401 UNAUTHENTICATED), destinations, at most 2,000 events / 10,000 members, HEX
 * encoding declared when user data is sent and identifiers that are SHA-256 hex, consent enums, transactionId and
 * RFC 3339 eventTimestamp; fast-fail: any violation rejects the whole request (400 INVALID_ARGUMENT with
 * `google.rpc.BadRequest` field violations), nothing is ingested. `validateOnly` checks and stores nothing.
 * Success answers `{ requestId }`.
 */
import {
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeDataManagerOptions extends FakeServerOptions {
  accessToken?: string;
  maxEvents?: number;
  maxMembers?: number;
}

export interface FakeDataManager extends FakeServer {
  /** Conversions by `${productDestinationId}:${transactionId}` (deduplicated like Google Ads). */
  conversions: Map<string, Record<string, unknown>>;
  /** User list id → identifiers (`emailAddress:<hex>` / `phoneNumber:<hex>`). */
  audiences: Map<string, Set<string>>;
}

const HEX = /^[0-9a-f]{64}$/;
const CONSENT = ['CONSENT_GRANTED', 'CONSENT_DENIED', 'CONSENT_STATUS_UNSPECIFIED'];
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

interface Violation {
  field: string;
  description: string;
}

function invalid(violations: Violation[]): FakeResponse {
  return {
    status: 400,
    body: {
      error: {
        code: 400,
        message: 'Request contains an invalid argument.',
        status: 'INVALID_ARGUMENT',
        details: [{ '@type': 'type.googleapis.com/google.rpc.BadRequest', fieldViolations: violations }],
      },
    },
  };
}

function checkConsent(consent: unknown, field: string, out: Violation[]) {
  if (consent === undefined) return;
  const c = consent as Record<string, unknown>;
  for (const key of ['adUserData', 'adPersonalization']) {
    if (c[key] !== undefined && !CONSENT.includes(String(c[key])))
      out.push({
        field: `${field}.${key === 'adUserData' ? 'ad_user_data' : 'ad_personalization'}`,
        description: 'Invalid consent status.',
      });
  }
}

function checkUserData(userData: unknown, field: string, encoding: unknown, out: Violation[]) {
  if (userData === undefined) return;
  if (encoding !== 'HEX' && encoding !== 'BASE64')
    out.push({ field: 'encoding', description: 'Encoding is required with user data.' });
  const ids = (userData as { userIdentifiers?: Record<string, unknown>[] }).userIdentifiers;
  if (!Array.isArray(ids) || ids.length === 0) {
    out.push({ field: `${field}.user_identifiers`, description: 'At least one user identifier is required.' });
    return;
  }
  ids.forEach((id, j) => {
    const value = id.emailAddress ?? id.phoneNumber;
    if (typeof value !== 'string' || (encoding === 'HEX' && !HEX.test(value))) {
      out.push({
        field: `${field}.user_identifiers[${j}]`,
        description: 'The identifier is not a hex-encoded SHA-256 hash.',
      });
    }
  });
}

export async function startFakeDataManager(options: FakeDataManagerOptions = {}): Promise<FakeDataManager> {
  const token = options.accessToken ?? 'test-token';
  const maxEvents = options.maxEvents ?? 2000;
  const maxMembers = options.maxMembers ?? 10_000;
  const conversions = new Map<string, Record<string, unknown>>();
  const audiences = new Map<string, Set<string>>();
  let counter = 0;

  const handle = (request: RecordedRequest): FakeResponse => {
    const route = request.path;
    if (
      request.method !== 'POST' ||
      !['/v1/events:ingest', '/v1/audienceMembers:ingest', '/v1/audienceMembers:remove'].includes(route)
    ) {
      return { status: 404, body: { error: { code: 404, message: 'Not found', status: 'NOT_FOUND' } } };
    }
    if (request.headers.authorization !== `Bearer ${token}`) {
      return {
        status: 401,
        body: {
          error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
        },
      };
    }
    const body = (request.json ?? {}) as Record<string, unknown>;
    const violations: Violation[] = [];
    const destinations = body.destinations as
      { operatingAccount?: { accountId?: string }; productDestinationId?: string }[] | undefined;
    if (!Array.isArray(destinations) || destinations.length === 0)
      violations.push({ field: 'destinations', description: 'At least one destination is required.' });
    else {
      destinations.forEach((d, i) => {
        if (!/^\d+$/.test(String(d.operatingAccount?.accountId)))
          violations.push({
            field: `destinations[${i}].operating_account.account_id`,
            description: 'Invalid account id.',
          });
        if (!d.productDestinationId)
          violations.push({
            field: `destinations[${i}].product_destination_id`,
            description: 'Product destination id is required.',
          });
      });
    }
    checkConsent(body.consent, 'consent', violations);

    if (route === '/v1/events:ingest') {
      const events = body.events as Record<string, unknown>[] | undefined;
      if (!Array.isArray(events) || events.length === 0)
        violations.push({ field: 'events', description: 'At least one event is required.' });
      else if (events.length > maxEvents)
        violations.push({ field: 'events', description: `Too many events: at most ${maxEvents} per request.` });
      else {
        events.forEach((event, i) => {
          const at = `events[${i}]`;
          if (typeof event.transactionId !== 'string' || event.transactionId === '')
            violations.push({ field: `${at}.transaction_id`, description: 'Transaction id is required.' });
          if (typeof event.eventTimestamp !== 'string' || !RFC3339.test(event.eventTimestamp))
            violations.push({ field: `${at}.event_timestamp`, description: 'Invalid timestamp.' });
          if (event.currency !== undefined && !/^[A-Z]{3}$/.test(String(event.currency)))
            violations.push({ field: `${at}.currency`, description: 'Invalid currency code.' });
          const ad = (event.adIdentifiers ?? {}) as Record<string, unknown>;
          if (['gclid', 'gbraid', 'wbraid'].filter((k) => ad[k] !== undefined).length > 1)
            violations.push({ field: `${at}.ad_identifiers`, description: 'Only one of gclid, gbraid, wbraid.' });
          checkConsent(event.consent, `${at}.consent`, violations);
          checkUserData(event.userData, `${at}.user_data`, body.encoding, violations);
        });
      }
      if (violations.length > 0) return invalid(violations);
      if (body.validateOnly !== true) {
        const target = String(destinations?.[0].productDestinationId);
        for (const event of events as Record<string, unknown>[]) {
          const key = `${target}:${String(event.transactionId)}`;
          if (options.record !== false && !conversions.has(key)) conversions.set(key, event);
        }
      }
    } else {
      const members = body.audienceMembers as Record<string, unknown>[] | undefined;
      if (!Array.isArray(members) || members.length === 0)
        violations.push({ field: 'audience_members', description: 'At least one member is required.' });
      else if (members.length > maxMembers)
        violations.push({
          field: 'audience_members',
          description: `Too many members: at most ${maxMembers} per request.`,
        });
      else {
        members.forEach((member, i) => {
          checkConsent(member.consent, `audience_members[${i}].consent`, violations);
          if (member.userData === undefined)
            violations.push({ field: `audience_members[${i}].user_data`, description: 'User data is required.' });
          checkUserData(member.userData, `audience_members[${i}].user_data`, body.encoding, violations);
        });
      }
      if (violations.length > 0) return invalid(violations);
      if (body.validateOnly !== true) {
        for (const destination of destinations ?? []) {
          const list = audiences.get(String(destination.productDestinationId)) ?? new Set<string>();
          audiences.set(String(destination.productDestinationId), list);
          for (const member of members as { userData: { userIdentifiers: Record<string, string>[] } }[]) {
            for (const id of member.userData.userIdentifiers) {
              const [kind, value] = Object.entries(id)[0];
              if (route.endsWith(':ingest')) list.add(`${kind}:${value}`);
              else list.delete(`${kind}:${value}`);
            }
          }
        }
      }
    }
    return { status: 200, body: { requestId: `req-${++counter}` } };
  };
  const server = await startFakeServer(handle, options);
  return Object.assign(server, { conversions, audiences });
}
