/**
 * Data Manager credentials for a run. Every Data Manager call goes through `authorized`, which sends it with the
 * current access token and, on 401 UNAUTHENTICATED, gets a new token once and sends it again; a second 401, or a
 * 403 PERMISSION_DENIED, is a ConfigError that fails the run and says what to grant.
 *
 * Where tokens come from, in order: a fixed `accessToken` (tests, proxies; never renewed), a `serviceAccountKey`
 * (JWT bearer grant at the key's `token_uri`), or `applicationDefaultCredentials`: ADC with the datamanager scope (on
 * Cloud Run the job's service account through the metadata server; locally `gcloud auth application-default login`
 * or GOOGLE_APPLICATION_CREDENTIALS). google-auth-library finds the credentials and performs the token requests (the
 * metadata server, key files and gcloud's user credentials are its domain); Data Manager calls themselves go through
 * `ctx.http`. Tokens are cached per config (one per run, one per stream-sync process) and renewed
 * TOKEN_REFRESH_MARGIN_MS before they expire, by `ctx.clock`. Dry-run never asks for a token.
 */
import { GoogleAuth, OAuth2Client, type AuthClient } from 'google-auth-library';
import type { DestinationContext, HttpRequest, HttpResponse } from '../../src/core/destination';
import { ConfigError, RetryableError } from '../../src/core/errors';
import { excerpt, isObject } from '../shared';
import { DATA_MANAGER_SCOPE, TOKEN_REFRESH_MARGIN_MS, type GoogleAdsConfig, type ServiceAccountKey } from './config';

type Ctx = DestinationContext<GoogleAdsConfig>;

/** google-auth-library's JWT bearer grant always posts here and signs it as the audience (gtoken). */
const GOOGLE_TOKEN_URL = 'https://oauth2.googleapis.com/token';

interface Token {
  value: string;
  /** By `ctx.clock`; undefined when the source does not say (renewed only after a 401). */
  expiresAt?: number;
}

interface Session {
  token?: Token;
  /** The renewal in flight: concurrent requests share it. */
  renewing?: Promise<Token>;
  renewals: number;
  source?: Promise<Source>;
}

/** A google-auth-library client and what error messages need to know about it. */
interface Source {
  client: AuthClient;
  /** Who the tokens speak for (the service account email), when known. */
  principal?: string;
  kind: 'service account key' | 'application default credentials';
}

const sessions = new WeakMap<GoogleAdsConfig, Session>();

function sessionOf(config: GoogleAdsConfig): Session {
  let session = sessions.get(config);
  if (!session) {
    session = { renewals: 0 };
    sessions.set(config, session);
  }
  return session;
}

/** Tokens obtained for this config so far (for logs and tests). */
export function tokenRequests(config: GoogleAdsConfig): number {
  return sessions.get(config)?.renewals ?? 0;
}

/** Sends `request` with the current token; on 401 renews the token once and sends it again. */
export async function authorized(ctx: Ctx, request: HttpRequest): Promise<HttpResponse> {
  const build = (token: string, source?: Source): HttpRequest => ({
    ...request,
    headers: {
      ...request.headers,
      authorization: `Bearer ${token}`,
      // User credentials from gcloud bill their quota project (`gcloud auth application-default set-quota-project`).
      ...(source?.client.quotaProjectId ? { 'x-goog-user-project': source.client.quotaProjectId } : {}),
    },
  });
  // Dry-run: the request goes to the outbox (authorization masked); never ask for a token.
  if (ctx.dryRun) return ctx.http(build(ctx.config.accessToken ?? 'dry-run'));
  const fixed = ctx.config.accessToken;
  if (fixed) {
    const response = await ctx.http(build(fixed));
    if (response.status === 401)
      throw new ConfigError(
        `Data Manager refused the access token (${describe(response)}); a fixed accessToken cannot be renewed ` +
          '(Google access tokens last an hour): leave accessToken out to use Application Default Credentials ' +
          "(on Cloud Run the job's service account), or set serviceAccountKey",
        'destinations.google-ads.accessToken',
      );
    if (response.status === 403) throw permissionDenied(ctx, response, undefined);
    return response;
  }
  const session = sessionOf(ctx.config);
  const token = await current(ctx, session);
  const source = await session.source;
  const first = await ctx.http(build(token.value, source));
  if (first.status === 403) throw permissionDenied(ctx, first, source);
  if (first.status !== 401) return first;
  const fresh = await renew(ctx, session, token);
  ctx.logger.info({ renewals: session.renewals }, 'Data Manager refused the access token; continuing with a new one');
  const second = await ctx.http(build(fresh.value, source));
  if (second.status === 403) throw permissionDenied(ctx, second, source);
  if (second.status !== 401) return second;
  throw new ConfigError(
    `Data Manager refused a just-issued access token for ${who(source)} (${describe(second)}): check that the ` +
      `credentials carry the scope ${DATA_MANAGER_SCOPE}, that the service account is enabled and its key not ` +
      'deleted, and that endpoint is the Data Manager API the token is for',
    'destinations.google-ads',
  );
}

/** The cached token, or a new one when there is none or it expires within the margin. */
function current(ctx: Ctx, session: Session): Promise<Token> {
  const token = session.token;
  const fresh =
    token && (token.expiresAt === undefined || token.expiresAt - TOKEN_REFRESH_MARGIN_MS > ctx.clock.now().getTime());
  return fresh ? Promise.resolve(token) : renew(ctx, session, token);
}

/** A new token, unless another request already replaced `stale`; one token request at a time. */
function renew(ctx: Ctx, session: Session, stale: Token | undefined): Promise<Token> {
  if (session.token && session.token !== stale) return current(ctx, session);
  session.renewing ??= (async () => {
    session.source ??= sourceFor(ctx.config).catch((error: unknown) => {
      session.source = undefined; // ask again next time (a ConfigError fails the run first)
      throw error;
    });
    const source = await session.source;
    const token = await obtain(ctx, source);
    session.token = token;
    session.renewals += 1;
    return token;
  })().finally(() => {
    session.renewing = undefined;
  });
  return session.renewing;
}

/**
 * Token requests use Node's own fetch: gaxios otherwise loads node-fetch (ESM only) through a dynamic import, which
 * CommonJS code under a VM (jest) cannot do.
 */
const clientOptions = { transporterOptions: { fetchImplementation: fetch } };

async function sourceFor(config: GoogleAdsConfig): Promise<Source> {
  if (config.serviceAccountKey) {
    const key = JSON.parse(config.serviceAccountKey) as ServiceAccountKey; // checked by the config schema
    const auth = new GoogleAuth({ credentials: key, scopes: [DATA_MANAGER_SCOPE], clientOptions });
    const client = await auth.getClient();
    honourTokenUri(client, key.token_uri);
    return { client, principal: key.client_email, kind: 'service account key' };
  }
  const auth = new GoogleAuth({ scopes: [DATA_MANAGER_SCOPE], clientOptions });
  let client: AuthClient;
  try {
    client = await auth.getClient();
  } catch (error) {
    throw new ConfigError(
      `no Google credentials for the Data Manager API (${(error as Error).message.split('. ')[0]}): on Cloud Run the ` +
        "job's service account is used; locally run `gcloud auth application-default login " +
        `--scopes=${DATA_MANAGER_SCOPE},https://www.googleapis.com/auth/cloud-platform\` or set ` +
        'GOOGLE_APPLICATION_CREDENTIALS to a service account key file; or set serviceAccountKey (or accessToken) ' +
        'on the google-ads destination, or run with --dry-run',
      'destinations.google-ads',
    );
  }
  const json = (auth.jsonContent ?? {}) as Partial<ServiceAccountKey>;
  honourTokenUri(client, json.token_uri);
  const principal = typeof json.client_email === 'string' ? json.client_email : undefined;
  return { client, principal, kind: 'application default credentials' };
}

/**
 * google-auth-library posts the JWT bearer grant to Google's token URL whatever the key's `token_uri` says. Keys
 * Google issues name that same URL; a different one (a private endpoint, a local test server) is honoured here.
 */
function honourTokenUri(client: AuthClient, tokenUri: string | undefined): void {
  if (!tokenUri || tokenUri === GOOGLE_TOKEN_URL) return;
  client.transporter.interceptors.request.add({
    resolved: (options) => {
      if (String(options.url) === GOOGLE_TOKEN_URL) options.url = new URL(tokenUri);
      return Promise.resolve(options);
    },
  });
}

async function obtain(ctx: Ctx, source: Source): Promise<Token> {
  const { client } = source;
  // This cache decides when to renew: make the library fetch instead of answering from its own cache.
  if (client instanceof OAuth2Client) client.credentials = { ...client.credentials, expiry_date: 1 };
  let value: string | null | undefined;
  try {
    value = (await client.getAccessToken()).token;
  } catch (error) {
    throw tokenFailure(error, source);
  }
  if (!value) throw new RetryableError(`no access token from ${who(source)}`);
  const expiry = client instanceof OAuth2Client ? client.credentials.expiry_date : undefined;
  // The library stamps expiry by the wall clock; keep the remaining lifetime, measured on ctx.clock.
  const expiresAt = typeof expiry === 'number' ? ctx.clock.now().getTime() + (expiry - Date.now()) : undefined;
  return { value, ...(expiresAt !== undefined ? { expiresAt } : {}) };
}

/** A failed token request: the token endpoint's refusal is the operator's to fix; its outages are retried. */
function tokenFailure(error: unknown, source: Source): Error {
  const e = error as { message?: string; status?: number; response?: { status?: number; data?: unknown } };
  const status = e.response?.status ?? e.status;
  const data = isObject(e.response?.data) ? e.response.data : {};
  const code = typeof data.error === 'string' ? data.error : undefined;
  const description = typeof data.error_description === 'string' ? data.error_description : (e.message ?? '');
  if (status === undefined || status === 429 || status >= 500)
    return new RetryableError(`Google token request for ${who(source)} failed: ${e.message ?? String(error)}`);
  const fix =
    source.kind === 'service account key'
      ? 'check that the key in serviceAccountKey (GOOGLE_DATA_MANAGER_SERVICE_ACCOUNT_KEY) is current (not deleted or ' +
        'disabled in IAM) and that the machine clock is right'
      : 'renew the credentials (`gcloud auth application-default login`, or a current key file in ' +
        'GOOGLE_APPLICATION_CREDENTIALS); on Cloud Run check that the job runs as an enabled service account';
  return new ConfigError(
    `Google refused the token request for ${who(source)} (${status}${code ? ` ${code}` : ''}: ${description}): ${fix}`,
    'destinations.google-ads',
  );
}

function who(source: Source | undefined): string {
  if (!source) return 'the fixed access token';
  return source.principal ? `${source.principal} (${source.kind})` : source.kind;
}

function describe(response: HttpResponse): string {
  const error = isObject(response.json) && isObject(response.json.error) ? response.json.error : {};
  const status = typeof error.status === 'string' ? error.status : '';
  const message = typeof error.message === 'string' ? error.message : excerpt(response.body, 160);
  return `${response.status} ${status}: ${message}`.replace(/ {2}/g, ' ');
}

/** `google.rpc.ErrorInfo` reasons of an error answer. */
function reasons(response: HttpResponse): string[] {
  const error = isObject(response.json) && isObject(response.json.error) ? response.json.error : {};
  return (Array.isArray(error.details) ? error.details : [])
    .filter(isObject)
    .map((d) => d.reason)
    .filter((r): r is string => typeof r === 'string');
}

/** 403 PERMISSION_DENIED → what to grant, by the ErrorInfo reason Google gives. */
function permissionDenied(ctx: Ctx, response: HttpResponse, source: Source | undefined): ConfigError {
  const why = reasons(response);
  const principal = source?.principal ?? (source ? "the job's service account" : 'the account the token is for');
  let fix: string;
  if (why.includes('SERVICE_DISABLED'))
    fix =
      'enable the Data Manager API (datamanager.googleapis.com) in the Google Cloud project the credentials belong ' +
      'to (terraform/modules/tagpipe enables it with enable_apis), then wait a few minutes';
  else if (why.includes('ACCESS_TOKEN_SCOPE_INSUFFICIENT'))
    fix =
      `the token lacks the scope ${DATA_MANAGER_SCOPE}: locally run \`gcloud auth application-default login ` +
      `--scopes=${DATA_MANAGER_SCOPE},https://www.googleapis.com/auth/cloud-platform\``;
  else {
    const account = ctx.config.loginAccountId
      ? `the manager account ${ctx.config.loginAccountId} (loginAccountId) that manages ${ctx.config.operatingAccountId}`
      : `the Google Ads account ${ctx.config.operatingAccountId}`;
    fix =
      `give ${principal} access to ${account}: in Google Ads, Admin > Access and security > Users > +, add its ` +
      'email as a user that can edit (e.g. Standard access); for Customer Match, accept the customer data terms too';
  }
  return new ConfigError(
    `Data Manager denied permission (${describe(response)}${why.length ? `, ${why.join(', ')}` : ''}): ${fix}`,
    'destinations.google-ads',
  );
}
