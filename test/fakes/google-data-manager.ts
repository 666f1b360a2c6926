/**
 * Fake Google Data Manager API (`/v1/events:ingest`, `/v1/audienceMembers:ingest`, `/v1/audienceMembers:remove`).
 * Enforces: OAuth bearer (401 UNAUTHENTICATED), destinations, at most 2,000 events / 10,000 members, HEX
 * encoding declared when user data is sent and identifiers that are SHA-256 hex, consent enums, transactionId and
 * RFC 3339 eventTimestamp; fast-fail: any violation rejects the whole request (400 INVALID_ARGUMENT with
 * `google.rpc.BadRequest` field violations), nothing is ingested. `validateOnly` checks and stores nothing and
 * answers `{}` ("only errors are returned, not results"). Success answers `{ requestId }`; processing happens after
 * that, like Google's: `GET /v1/requestStatus:retrieve?requestId=` answers PROCESSING for `statusPollsUntilDone`
 * reads, then per destination SUCCESS / PARTIAL_SUCCESS / FAILED with `errorInfo.errorCounts` (events older than
 * 90 days: EVENT_TOO_OLD; ad_user_data denied: DENIED_CONSENT; `invalidGclids`: INVALID_GCLID; an operating account
 * in `accountsWithoutConsent`: every record NO_CONSENT). Only records that processed successfully are stored. A
 * missing requestId is 400 INVALID_ARGUMENT, an unknown one 404 NOT_FOUND.
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
  /** requestStatus:retrieve answers PROCESSING this many times per request before the result (default 1). */
  statusPollsUntilDone?: number;
  /** Click ids Google Ads does not know: those events fail processing with INVALID_GCLID. */
  invalidGclids?: string[];
  /** Operating accounts that have not given consent for Ads: every record to them fails with NO_CONSENT. */
  accountsWithoutConsent?: string[];
  /** The fake's "now" for the 90-day event age check (default: the wall clock). */
  now?: () => Date;
}

export interface FakeDataManager extends FakeServer {
  /** Conversions by `${productDestinationId}:${transactionId}` (deduplicated like Google Ads). */
  conversions: Map<string, Record<string, unknown>>;
  /** User list id → identifiers (`emailAddress:<hex>` / `phoneNumber:<hex>`). */
  audiences: Map<string, Set<string>>;
  /** Accepted requests by request id, with their processing result. */
  processed: Map<string, ProcessedRequest>;
}

export interface ProcessedRequest {
  kind: 'events' | 'ingest' | 'remove';
  reads: number;
  perDestination: {
    destination: Record<string, unknown>;
    records: number;
    identifiers: number;
    /** Failure reason → records. */
    errors: Map<string, number>;
  }[];
}

/** Google Ads imports click conversions up to 90 days after the click. */
const MAX_EVENT_AGE_MS = 90 * 24 * 3600_000;

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
  const processed = new Map<string, ProcessedRequest>();
  const invalidGclids = new Set(options.invalidGclids ?? []);
  const noConsent = new Set(options.accountsWithoutConsent ?? []);
  const now = options.now ?? (() => new Date());
  let counter = 0;

  const unauthenticated: FakeResponse = {
    status: 401,
    body: {
      error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
    },
  };

  const handle = (request: RecordedRequest): FakeResponse => {
    const route = request.path;
    if (request.method === 'GET' && route === '/v1/requestStatus:retrieve') {
      if (request.headers.authorization !== `Bearer ${token}`) return unauthenticated;
      return retrieve(request.query.requestId);
    }
    if (
      request.method !== 'POST' ||
      !['/v1/events:ingest', '/v1/audienceMembers:ingest', '/v1/audienceMembers:remove'].includes(route)
    ) {
      return { status: 404, body: { error: { code: 404, message: 'Not found', status: 'NOT_FOUND' } } };
    }
    if (request.headers.authorization !== `Bearer ${token}`) return unauthenticated;
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
      if (body.validateOnly === true) return { status: 200, body: {} };
      const result: ProcessedRequest = { kind: 'events', reads: 0, perDestination: [] };
      for (const destination of destinations ?? []) {
        const errors = new Map<string, number>();
        const target = String(destination.productDestinationId);
        for (const event of events as Record<string, unknown>[]) {
          const reason = eventFailure(destination, event);
          if (reason) {
            errors.set(reason, (errors.get(reason) ?? 0) + 1);
            continue;
          }
          const key = `${target}:${String(event.transactionId)}`;
          if (options.record !== false && !conversions.has(key)) conversions.set(key, event);
        }
        result.perDestination.push({
          destination: destination as Record<string, unknown>,
          records: (events as unknown[]).length,
          identifiers: 0,
          errors,
        });
      }
      return accepted(result);
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
      if (body.validateOnly === true) return { status: 200, body: {} };
      const list = members as { userData: { userIdentifiers: Record<string, string>[] } }[];
      const result: ProcessedRequest = {
        kind: route.endsWith(':ingest') ? 'ingest' : 'remove',
        reads: 0,
        perDestination: [],
      };
      for (const destination of destinations ?? []) {
        const errors = new Map<string, number>();
        if (noConsent.has(String(destination.operatingAccount?.accountId))) {
          errors.set('PROCESSING_ERROR_REASON_NO_CONSENT', list.length);
        } else {
          const users = audiences.get(String(destination.productDestinationId)) ?? new Set<string>();
          audiences.set(String(destination.productDestinationId), users);
          for (const member of list) {
            for (const id of member.userData.userIdentifiers) {
              const [kind, value] = Object.entries(id)[0];
              if (result.kind === 'ingest') users.add(`${kind}:${value}`);
              else users.delete(`${kind}:${value}`);
            }
          }
        }
        result.perDestination.push({
          destination: destination as Record<string, unknown>,
          records: list.length,
          identifiers: list.reduce((n, m) => n + m.userData.userIdentifiers.length, 0),
          errors,
        });
      }
      return accepted(result);
    }
  };

  const accepted = (result: ProcessedRequest): FakeResponse => {
    const requestId = `req-${++counter}`;
    if (options.record !== false) processed.set(requestId, result);
    return { status: 200, body: { requestId } };
  };

  /** Why processing drops an event for a destination, or undefined when it goes in. */
  const eventFailure = (
    destination: { operatingAccount?: { accountId?: string } },
    event: Record<string, unknown>,
  ): string | undefined => {
    if (noConsent.has(String(destination.operatingAccount?.accountId))) return 'PROCESSING_ERROR_REASON_NO_CONSENT';
    if (now().getTime() - Date.parse(String(event.eventTimestamp)) > MAX_EVENT_AGE_MS)
      return 'PROCESSING_ERROR_REASON_EVENT_TOO_OLD';
    const consent = (event.consent ?? {}) as Record<string, unknown>;
    if (consent.adUserData === 'CONSENT_DENIED') return 'PROCESSING_ERROR_REASON_DENIED_CONSENT';
    const gclid = (event.adIdentifiers as Record<string, unknown> | undefined)?.gclid;
    if (typeof gclid === 'string' && invalidGclids.has(gclid)) return 'PROCESSING_ERROR_REASON_INVALID_GCLID';
    return undefined;
  };

  const retrieve = (requestId: string | undefined): FakeResponse => {
    if (!requestId) return invalid([{ field: 'request_id', description: 'Required field is missing.' }]);
    const request = processed.get(requestId);
    if (!request)
      return {
        status: 404,
        body: { error: { code: 404, message: `Request ${requestId} was not found.`, status: 'NOT_FOUND' } },
      };
    request.reads += 1;
    const processing = request.reads <= (options.statusPollsUntilDone ?? 1);
    return {
      status: 200,
      body: {
        requestStatusPerDestination: request.perDestination.map((d) => {
          const failed = [...d.errors.values()].reduce((a, b) => a + b, 0);
          const state = processing
            ? 'PROCESSING'
            : failed === 0
              ? 'SUCCESS'
              : failed >= d.records
                ? 'FAILED'
                : 'PARTIAL_SUCCESS';
          const counts = String(d.records);
          return {
            destination: d.destination,
            requestStatus: state,
            ...(!processing && failed > 0
              ? {
                  errorInfo: {
                    errorCounts: [...d.errors].map(([reason, n]) => ({ reason, recordCount: String(n) })),
                  },
                }
              : {}),
            ...(request.kind === 'events'
              ? { eventsIngestionStatus: { recordCount: counts } }
              : request.kind === 'ingest'
                ? {
                    audienceMembersIngestionStatus: {
                      userDataIngestionStatus: { recordCount: counts, userIdentifierCount: String(d.identifiers) },
                    },
                  }
                : {
                    audienceMembersRemovalStatus: {
                      userDataRemovalStatus: { recordCount: counts, userIdentifierCount: String(d.identifiers) },
                    },
                  }),
          };
        }),
      },
    };
  };

  const server = await startFakeServer(handle, options);
  return Object.assign(server, { conversions, audiences, processed });
}
