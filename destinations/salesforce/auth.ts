/**
 * Salesforce access tokens for a run: every REST and Bulk API call goes through `authorized`, which sends it with
 * the current token and, on 401 (INVALID_SESSION_ID: the session expired or was revoked), gets a new token
 * through the configured OAuth flow and sends the request again. Renewed tokens refused twice in a row are a
 * permanent auth failure: a ConfigError that fails the run and says what to fix. A renewed token that has worked
 * and since expired is renewed again (at most MAX_RENEWALS times per request), since concurrent requests share
 * renewals. Token endpoints
 * (https://help.salesforce.com/s/articleView?id=sf.remoteaccess_oauth_flows.htm): `refresh_token`,
 * `client_credentials` and the JWT bearer grant (`urn:ietf:params:oauth:grant-type:jwt-bearer`, RS256 assertion
 * with iss = client id, sub = username, aud = login URL, exp within 3 minutes).
 */
import { createSign } from 'node:crypto';
import type { DestinationContext, HttpRequest, HttpResponse } from '../../src/core/destination';
import { ConfigError, RetryableError } from '../../src/core/errors';
import { excerpt, isObject } from '../shared';
import type { SalesforceAuth, SalesforceConfig } from './config';

type Ctx = DestinationContext<SalesforceConfig>;

interface Session {
  token?: string;
  /** The refresh in flight: concurrent requests that hit 401 with the same token share it. */
  refreshing?: Promise<string>;
  refreshes: number;
  /** The last token a request got a non-401 answer with: a 401 on it means it expired, not that it is refused. */
  worked?: string;
}

/** Renewals one request may trigger: enough for concurrent requests racing a short session, bounded. */
const MAX_RENEWALS = 3;

/** One session per run: the executor hands every batch of a run the same config object. */
const sessions = new WeakMap<SalesforceConfig, Session>();

function sessionOf(config: SalesforceConfig): Session {
  let session = sessions.get(config);
  if (!session) {
    session = { token: config.accessToken, refreshes: 0 };
    sessions.set(config, session);
  }
  return session;
}

/** Token refreshes done for this config so far (for logs and tests). */
export function refreshCount(config: SalesforceConfig): number {
  return sessions.get(config)?.refreshes ?? 0;
}

/** Sends `request` with the current token as bearer; on 401 renews the token and sends again. */
export async function authorized(ctx: Ctx, request: HttpRequest): Promise<HttpResponse> {
  const build = (token: string): HttpRequest => ({
    ...request,
    headers: { ...request.headers, authorization: `Bearer ${token}` },
  });
  // Dry-run: the request goes to the outbox; never call the token endpoint (its body would carry the secrets).
  if (ctx.dryRun) return ctx.http(build(ctx.config.accessToken ?? 'dry-run'));
  const session = sessionOf(ctx.config);
  let token = session.token ?? (await renew(ctx, session, undefined));
  for (let renewals = 0; ; renewals++) {
    const response = await ctx.http(build(token));
    if (response.status !== 401) {
      session.worked = token;
      return response;
    }
    if (!ctx.config.auth) {
      throw new ConfigError(
        `Salesforce refused the access token (${describe401(response)}) and no auth flow is configured to renew ` +
          'it: set auth (refresh_token, client_credentials or jwt_bearer) on the salesforce destination, or ' +
          'provide a new SALESFORCE_ACCESS_TOKEN',
        'destinations.salesforce.accessToken',
      );
    }
    // The token the run started with may simply have expired, and a renewed one another request used first may
    // have expired since (concurrent requests share renewals, and answers arrive in any order); two renewals in a
    // row that never worked mean the tokens are refused.
    if ((renewals >= 2 && session.worked !== token) || renewals >= MAX_RENEWALS) {
      throw new ConfigError(
        `Salesforce refused a just-issued access token (${describe401(response)}): check that the integration ` +
          'user\'s profile or permission set has "API Enabled", that the connected app admits the user (OAuth ' +
          'policies: permitted users, IP relaxation), and that endpoint is the instance URL of the org the token is for',
        'destinations.salesforce.auth',
      );
    }
    token = await renew(ctx, session, token);
    ctx.logger.info({ refreshes: session.refreshes }, 'Salesforce session expired; continuing with a renewed token');
  }
}

function describe401(response: HttpResponse): string {
  const error = Array.isArray(response.json) && isObject(response.json[0]) ? response.json[0] : {};
  const code = typeof error.errorCode === 'string' ? error.errorCode : 'UNAUTHORIZED';
  const message = typeof error.message === 'string' ? error.message : excerpt(response.body, 120);
  return `401 ${code}: ${message}`;
}

/** A new token, unless another request already replaced `failed`; one token request at a time. */
async function renew(ctx: Ctx, session: Session, failed: string | undefined): Promise<string> {
  if (session.token && session.token !== failed) return session.token;
  if (!session.refreshing) {
    const auth = ctx.config.auth as SalesforceAuth; // the schema requires accessToken or auth
    session.refreshing = requestToken(ctx, auth)
      .then((token) => {
        session.token = token;
        session.refreshes += 1;
        return token;
      })
      .finally(() => {
        session.refreshing = undefined;
      });
  }
  return session.refreshing;
}

function grant(auth: SalesforceAuth, now: Date): Record<string, string> {
  switch (auth.flow) {
    case 'refresh_token':
      return {
        grant_type: 'refresh_token',
        client_id: auth.clientId,
        ...(auth.clientSecret ? { client_secret: auth.clientSecret } : {}),
        refresh_token: auth.refreshToken,
      };
    case 'client_credentials':
      return { grant_type: 'client_credentials', client_id: auth.clientId, client_secret: auth.clientSecret };
    case 'jwt_bearer':
      return { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: jwtAssertion(auth, now) };
  }
}

/** RS256 JWT for the bearer flow; Salesforce accepts `exp` at most 3 minutes ahead. */
export function jwtAssertion(auth: Extract<SalesforceAuth, { flow: 'jwt_bearer' }>, now: Date): string {
  const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const claims = {
    iss: auth.clientId,
    sub: auth.username,
    aud: auth.audience.replace(/\/+$/, ''),
    exp: Math.floor(now.getTime() / 1000) + 180,
  };
  const unsigned = `${part({ alg: 'RS256' })}.${part(claims)}`;
  let signature: string;
  try {
    signature = createSign('RSA-SHA256').update(unsigned).sign(auth.privateKey.replace(/\\n/g, '\n'), 'base64url');
  } catch (error) {
    throw new ConfigError(
      `auth.privateKey is not a usable PEM private key (${(error as Error).message}): set SALESFORCE_PRIVATE_KEY ` +
        'to the key of the certificate uploaded to the connected app',
      'destinations.salesforce.auth.privateKey',
    );
  }
  return `${unsigned}.${signature}`;
}

/** What to fix, per OAuth error code of the token endpoint. */
function advice(auth: SalesforceAuth, error: string): string {
  if (error === 'invalid_client_id' || error === 'invalid_client')
    return 'check auth.clientId (the connected app consumer key) and SALESFORCE_CLIENT_SECRET (its consumer secret)';
  if (error === 'unsupported_grant_type')
    return `enable the ${auth.flow} flow on the connected app (and use the token URL of the right org)`;
  switch (auth.flow) {
    case 'refresh_token':
      return 'the refresh token is expired or revoked: authorize the connected app again and set the new SALESFORCE_REFRESH_TOKEN';
    case 'client_credentials':
      return 'enable "Client Credentials Flow" on the connected app with a Run As user, and use the My Domain token URL';
    case 'jwt_bearer':
      return (
        'check that the certificate uploaded to the connected app matches SALESFORCE_PRIVATE_KEY, that auth.username ' +
        'is pre-authorized for the app (admin approved users, profile or permission set), and that auth.audience is ' +
        'https://login.salesforce.com (https://test.salesforce.com for sandboxes)'
      );
  }
}

async function requestToken(ctx: Ctx, auth: SalesforceAuth): Promise<string> {
  const response = await ctx.http({
    method: 'POST',
    url: auth.tokenUrl,
    headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
    body: new URLSearchParams(grant(auth, ctx.clock.now())).toString(),
    timeoutMs: ctx.config.timeoutMs,
  });
  const body = isObject(response.json) ? response.json : {};
  if (response.status === 200 && typeof body.access_token === 'string') return body.access_token;
  if (response.status === 429 || response.status >= 500)
    throw new RetryableError(`Salesforce token endpoint ${response.status}: ${excerpt(response.body, 200)}`);
  const error = typeof body.error === 'string' ? body.error : `HTTP ${response.status}`;
  const description = typeof body.error_description === 'string' ? body.error_description : excerpt(response.body, 200);
  throw new ConfigError(
    `Salesforce token request (${auth.flow}) failed: ${error}: ${description}; ${advice(auth, error)}`,
    'destinations.salesforce.auth',
  );
}
