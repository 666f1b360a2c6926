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
 *
 * Auth like Google's: a token endpoint (`POST /token`, the JWT bearer grant of service account keys: RS256 signature
 * checked against the registered public key, `aud` Google's token URL, `iat`/`exp` at most an hour apart and
 * current by the wall clock, which is what google-auth-library signs with) issues access tokens that last
 * `tokenLifetimeSeconds` by the fake's `now`. Only tokens it issued are accepted, until they expire or
 * `expireTokens()` (401 UNAUTHENTICATED). 403 PERMISSION_DENIED like Google's: the API not enabled (ErrorInfo
 * SERVICE_DISABLED), a token without the datamanager scope (ACCESS_TOKEN_SCOPE_INSUFFICIENT), a caller the account
 * has not admitted (`accountAccess`; the login account when the request names one, else the operating account).
 */
import { createPublicKey, verify, type KeyObject } from 'node:crypto';
import {
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeDataManagerOptions extends FakeServerOptions {
  /** A token issued before the fake started (default `test-token`): datamanager scope, expires only on `expireTokens()`. */
  accessToken?: string;
  /** Service accounts by client_email → public key (PEM or KeyObject) that signs their JWT bearer grants. */
  serviceAccounts?: Record<string, string | KeyObject>;
  /** Lifetime of issued access tokens (Google's: 3,600 s). */
  tokenLifetimeSeconds?: number;
  /** Account id → the principals (service account emails) admitted to it; accounts not listed admit everyone. */
  accountAccess?: Record<string, string[]>;
  /** false: every call answers 403 SERVICE_DISABLED, like a project where the API is not enabled. */
  apiEnabled?: boolean;
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
  /** Access tokens issued by `/token` (and the pre-issued one). */
  tokens: Map<string, IssuedToken>;
  /** Token endpoint URL, the `token_uri` of a test service account key. */
  tokenUri: string;
  /** Expires every token issued so far: the next call with one gets 401 UNAUTHENTICATED. */
  expireTokens(): void;
}

export interface IssuedToken {
  principal: string;
  scopes: string[];
  /** Epoch ms by the fake's `now`. */
  expiresAt: number;
}

/** The audience google-auth-library signs into JWT bearer grants (Google's token endpoint). */
export const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';
const DATA_MANAGER_SCOPE = 'https://www.googleapis.com/auth/datamanager';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

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
  const tokens = new Map<string, IssuedToken>([
    [token, { principal: 'pre-issued', scopes: [DATA_MANAGER_SCOPE], expiresAt: Number.POSITIVE_INFINITY }],
  ]);
  const publicKeys = new Map(
    Object.entries(options.serviceAccounts ?? {}).map(([email, key]) => [
      email,
      typeof key === 'string' ? createPublicKey(key) : key,
    ]),
  );
  let tokenUri = '';

  const unauthenticated: FakeResponse = {
    status: 401,
    body: {
      error: { code: 401, message: 'Request had invalid authentication credentials.', status: 'UNAUTHENTICATED' },
    },
  };
  const denied = (message: string, reason?: string): FakeResponse => ({
    status: 403,
    body: {
      error: {
        code: 403,
        message,
        status: 'PERMISSION_DENIED',
        ...(reason
          ? {
              details: [
                {
                  '@type': 'type.googleapis.com/google.rpc.ErrorInfo',
                  reason,
                  domain: 'googleapis.com',
                  metadata: { service: 'datamanager.googleapis.com' },
                },
              ],
            }
          : {}),
      },
    },
  });

  /** The caller's token → its principal, or the 401/403 Google would answer. */
  const authenticate = (request: RecordedRequest): FakeResponse | IssuedToken => {
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const issued = bearer === undefined ? undefined : tokens.get(bearer);
    if (!issued || issued.expiresAt <= now().getTime()) return unauthenticated;
    if (options.apiEnabled === false)
      return denied(
        'Data Manager API has not been used in project 1234 before or it is disabled. Enable it by visiting ' +
          'https://console.developers.google.com/apis/api/datamanager.googleapis.com/overview?project=1234 then retry.',
        'SERVICE_DISABLED',
      );
    if (!issued.scopes.includes(DATA_MANAGER_SCOPE))
      return denied('Request had insufficient authentication scopes.', 'ACCESS_TOKEN_SCOPE_INSUFFICIENT');
    return issued;
  };

  const handle = (request: RecordedRequest): FakeResponse => {
    const route = request.path;
    if (request.method === 'POST' && route === '/token') return grant(request);
    if (request.method === 'GET' && route === '/v1/requestStatus:retrieve') {
      const caller = authenticate(request);
      if ('status' in caller) return caller;
      return retrieve(request.query.requestId);
    }
    if (
      request.method !== 'POST' ||
      !['/v1/events:ingest', '/v1/audienceMembers:ingest', '/v1/audienceMembers:remove'].includes(route)
    ) {
      return { status: 404, body: { error: { code: 404, message: 'Not found', status: 'NOT_FOUND' } } };
    }
    const caller = authenticate(request);
    if ('status' in caller) return caller;
    const body = (request.json ?? {}) as Record<string, unknown>;
    const violations: Violation[] = [];
    const destinations = body.destinations as
      | {
          operatingAccount?: { accountId?: string };
          loginAccount?: { accountId?: string };
          productDestinationId?: string;
        }[]
      | undefined;
    for (const d of Array.isArray(destinations) ? destinations : []) {
      // The caller acts through the login account when one is named (a manager), else on the operating account.
      const account = String(d.loginAccount?.accountId ?? d.operatingAccount?.accountId);
      const admitted = options.accountAccess?.[account];
      if (admitted && !admitted.includes(caller.principal)) return denied('The caller does not have permission');
    }
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

  const oauthError = (error: string, description: string): FakeResponse => ({
    status: 400,
    body: { error, error_description: description },
  });

  /** The JWT bearer grant (https://developers.google.com/identity/protocols/oauth2/service-account#httprest). */
  const grant = (request: RecordedRequest): FakeResponse => {
    const form = new URLSearchParams(request.body);
    if (form.get('grant_type') !== JWT_BEARER) return oauthError('unsupported_grant_type', 'Invalid grant_type: ');
    const [head, payload, signature] = (form.get('assertion') ?? '').split('.');
    let claims: Record<string, unknown>;
    try {
      const header = JSON.parse(Buffer.from(head, 'base64url').toString()) as Record<string, unknown>;
      claims = JSON.parse(Buffer.from(payload, 'base64url').toString()) as Record<string, unknown>;
      if (header.alg !== 'RS256' || !signature) throw new Error('alg');
    } catch {
      return oauthError('invalid_request', 'Invalid JWT: the assertion is not a signed JWT.');
    }
    const key = publicKeys.get(String(claims.iss));
    if (!key) return oauthError('invalid_grant', 'Invalid grant: account not found');
    if (!verify('RSA-SHA256', Buffer.from(`${head}.${payload}`), key, Buffer.from(signature, 'base64url')))
      return oauthError('invalid_grant', 'Invalid JWT Signature.');
    if (claims.aud !== GOOGLE_TOKEN_URL && claims.aud !== tokenUri)
      return oauthError('invalid_grant', 'Invalid JWT: Failed audience check.');
    const wall = Date.now() / 1000; // the assertion is signed by the wall clock
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!(iat <= wall + 300 && exp > wall && exp - iat <= 3600))
      return oauthError(
        'invalid_grant',
        'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values in the JWT claim.',
      );
    const scopes = typeof claims.scope === 'string' ? claims.scope.split(' ').filter(Boolean) : [];
    if (scopes.length === 0) return oauthError('invalid_scope', 'Invalid OAuth scope or ID token audience provided.');
    const lifetime = options.tokenLifetimeSeconds ?? 3600;
    const accessToken = `ya29.fake-${tokens.size}-${Math.random().toString(36).slice(2)}`;
    tokens.set(accessToken, {
      principal: String(claims.iss),
      scopes,
      expiresAt: now().getTime() + lifetime * 1000,
    });
    return { status: 200, body: { access_token: accessToken, expires_in: lifetime, token_type: 'Bearer' } };
  };

  const server = await startFakeServer(handle, options);
  tokenUri = `${server.url}/token`;
  return Object.assign(server, {
    conversions,
    audiences,
    processed,
    tokens,
    tokenUri,
    expireTokens: () => {
      for (const issued of tokens.values()) issued.expiresAt = Number.NEGATIVE_INFINITY;
    },
  });
}
