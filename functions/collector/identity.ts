/**
 * First-party identity: the server-set, HttpOnly id cookie (like server-side GTM's FPID). A cookie set by the
 * server in a first-party response escapes Safari ITP's 7-day cap on script-set cookies. The id is read back and
 * preferred over ids the client sends, created when absent, and neither read nor written without analytics
 * consent (DESIGN.md, principle 5: a cookieless ping keeps no identifiers).
 */
import { randomFillSync } from 'node:crypto';
import { getDomain } from 'tldts';
import type { Consent } from '../../src/core/event';

/** Chrome caps cookie lifetime at 400 days (RFC 6265bis); a longer Max-Age is silently shortened. */
export const MAX_COOKIE_DAYS = 400;

/** Ids this server issues: 16 random bytes (128 bits), base64url, 22 characters. */
export function newFirstPartyId(): string {
  if (poolOffset + ID_BYTES > pool.length) {
    // One call to the CSPRNG per 256 ids instead of one per request (each call is a synchronous syscall).
    randomFillSync(pool);
    poolOffset = 0;
  }
  const id = pool.toString('base64url', poolOffset, poolOffset + ID_BYTES);
  poolOffset += ID_BYTES;
  return id;
}

const ID_BYTES = 16;
const pool = Buffer.alloc(ID_BYTES * 256);
let poolOffset = pool.length;

/**
 * What a cookie value must look like to be trusted as our id: URL-safe and long enough to be ours (older or
 * hand-made values that are not are replaced with a fresh id).
 */
const ID_SHAPE = /^[A-Za-z0-9_-]{22,64}$/;

export function isFirstPartyId(value: unknown): value is string {
  return typeof value === 'string' && ID_SHAPE.test(value);
}

export interface IdentityInput {
  /** Value of the id cookie on the request, if any. */
  cookieValue: string | null | undefined;
  /**
   * anonymous_id / cid the client sent. Never used as the id: it is script-set (capped or reset by the browser)
   * and chosen by the client, while our ids are random with at least 128 bits.
   */
  clientAnonymousId: string | null | undefined;
  consent: Pick<Consent, 'analytics'>;
  /** Request time (kept for id rotation policies; ids do not encode it). */
  now: Date;
  /** Id to issue when one is created (so events of one request share it); random when absent. */
  newId?: string;
}

export interface IdentityResult {
  anonymousId: string | null;
  /** Send a Set-Cookie with `anonymousId`: on creation, and on reuse to slide the expiry forward. */
  setCookie: boolean;
  /** Where the id came from: the request's cookie, or created by this request. */
  source: 'cookie' | 'new' | null;
}

/**
 * | Analytics consent | Id cookie on request | Result                                              |
 * |-------------------|----------------------|-----------------------------------------------------|
 * | no                | any                  | no id, no cookie (the caller deletes an old cookie) |
 * | yes               | valid                | the cookie's id, cookie refreshed (sliding expiry)  |
 * | yes               | absent or invalid    | a new id (or `newId`), cookie set                   |
 * The client-sent id never overrides the cookie and is never promoted to it.
 */
export function resolveIdentity(input: IdentityInput): IdentityResult {
  if (!input.consent.analytics) return { anonymousId: null, setCookie: false, source: null };
  if (isFirstPartyId(input.cookieValue)) return { anonymousId: input.cookieValue, setCookie: true, source: 'cookie' };
  const id = isFirstPartyId(input.newId) ? input.newId : newFirstPartyId();
  return { anonymousId: id, setCookie: true, source: 'new' };
}

export interface IdCookieOptions {
  name: string;
  /** Registrable domain for the cookie (e.g. example.com). Unset: host-only cookie. */
  domain?: string | null;
  /** Lifetime; capped at 400 days. 0 builds a cookie that deletes the id. */
  maxAgeDays: number;
  /** Off only for plain-http local development (browsers drop Secure cookies on http). */
  secure: boolean;
}

const COOKIE_NAME = /^[A-Za-z0-9_-]+$/;
const DOMAIN = /^[a-z0-9.-]+$/;

/**
 * The `Set-Cookie` header value for the id: `HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=…`, `Domain` only
 * when configured. With `maxAgeDays` 0 (or via `buildIdDeleteCookie`) the cookie deletes the id (`Max-Age=0`),
 * used when analytics consent is withdrawn. Throws on a name, value or domain that would break the header.
 */
export function buildIdCookie(value: string, options: IdCookieOptions): string {
  return options.maxAgeDays <= 0 ? idCookies(options).remove : idCookies(options).set(value);
}

/**
 * The id cookie's `Set-Cookie` values for one configuration, its name, domain and attributes checked and joined
 * once: setting an id appends the attributes to `name=value`.
 */
export function idCookies(options: IdCookieOptions): { set: (value: string) => string; remove: string } {
  if (!COOKIE_NAME.test(options.name)) throw new Error(`cookie name ${JSON.stringify(options.name)} is not a token`);
  let domain = '';
  if (options.domain) {
    domain = options.domain.trim().replace(/^\./, '').toLowerCase();
    if (!DOMAIN.test(domain)) throw new Error(`cookie domain ${JSON.stringify(options.domain)} is not a host name`);
  }
  const attributes = (maxAge: number, deleting: boolean): string => {
    const parts = ['HttpOnly'];
    if (options.secure) parts.push('Secure');
    parts.push('SameSite=Lax', 'Path=/', `Max-Age=${maxAge}`);
    // Old clients ignore Max-Age=0; an Expires in the past deletes the cookie there too.
    if (deleting) parts.push('Expires=Thu, 01 Jan 1970 00:00:00 GMT');
    if (domain) parts.push(`Domain=${domain}`);
    return parts.join('; ');
  };
  const keep = `; ${attributes(Math.min(Math.floor(Math.max(options.maxAgeDays, 0)), MAX_COOKIE_DAYS) * 86400, false)}`;
  return {
    set: (value) => {
      if (!isFirstPartyId(value)) throw new Error('cookie value is not a first-party id');
      return `${options.name}=${value}${keep}`;
    },
    remove: `${options.name}=; ${attributes(0, true)}`,
  };
}

/** The `Set-Cookie` value that removes the id cookie (same name, domain and path as when it was set). */
export function buildIdDeleteCookie(options: Omit<IdCookieOptions, 'maxAgeDays'>): string {
  return buildIdCookie('', { ...options, maxAgeDays: 0 });
}

/**
 * Registrable domain (eTLD+1) of a host, using the Public Suffix List including private suffixes, the way
 * browsers decide where a cookie may be set: www.shop.example.co.uk → example.co.uk; IPs and localhost → null.
 */
export function registrableDomain(host: string | null | undefined): string | null {
  if (typeof host !== 'string' || host.trim() === '') return null;
  const h = host.trim().replace(/^\./, '').replace(/:\d+$/, '').toLowerCase();
  return getDomain(h, { allowPrivateDomains: true }) ?? null;
}
