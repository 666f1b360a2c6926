/**
 * Request enrichment for the collector: device and bot detection from the User-Agent, the IP policy, geo from
 * trusted load-balancer headers, ad click ids and campaign (UTM) fields from the page URL. All pure functions:
 * the same input gives the same output, and bad input gives null or an empty object, never an exception.
 */
import ipaddr from 'ipaddr.js';
import { isbot } from 'isbot';
import { getDomain } from 'tldts';
import { UAParser } from 'ua-parser-js';
import { BoundedCache } from '../../src/core/cache';
import type { Config } from '../../src/core/config';
import type { ClickIds, EventContext } from '../../src/core/event';

export type Device = NonNullable<EventContext['device']>;
export type Geo = { country: string | null; region: string | null; city: string | null };
export type Campaign = NonNullable<EventContext['campaign']>;

/** Longest User-Agent parsed; real ones are under 1 KB and ua-parser's regexes are linear in the input. */
const MAX_UA_CHARS = 2048;

/** App HTTP stacks (CFNetwork, Dalvik) reveal a mobile OS but no browser or device type: not a desktop. */
const MOBILE_OS = new Set(['iOS', 'Android', 'HarmonyOS', 'iPadOS']);

/**
 * Device, browser and OS from a User-Agent (ua-parser-js v1, MIT). ua-parser reports no device type for
 * desktops, so a known browser without one is `desktop`; crawlers (isbot) are `bot`. Only what was recognised is
 * returned (plus `is_bot`), so the result can be merged over device fields an app SDK sent without erasing them.
 */
export function parseUserAgent(ua: string | null | undefined): Device {
  if (typeof ua !== 'string' || ua.trim() === '') return { is_bot: false };
  const input = ua.slice(0, MAX_UA_CHARS);
  const r = new UAParser(input).getResult();
  const bot = isbot(input);
  const found: Device = {
    type: bot ? 'bot' : (r.device.type ?? (r.browser.name && !MOBILE_OS.has(r.os.name ?? '') ? 'desktop' : undefined)),
    vendor: r.device.vendor,
    model: r.device.model,
    browser: r.browser.name,
    browser_version: r.browser.version,
    os: r.os.name,
    os_version: r.os.version,
  };
  const out: Device = {};
  for (const [key, value] of Object.entries(found) as Array<[keyof Device, string | undefined]>) {
    if (typeof value === 'string' && value !== '') (out as Record<string, unknown>)[key] = value;
  }
  out.is_bot = bot;
  return out;
}

/** Strips a port (`1.2.3.4:80`, `[::1]:443`) and an IPv6 zone id, as proxies sometimes pass them on. */
function bareAddress(ip: string): string {
  let s = ip.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(s);
  if (bracketed) s = bracketed[1];
  else if (/^\d{1,3}(?:\.\d{1,3}){3}:\d+$/.test(s)) s = s.slice(0, s.lastIndexOf(':'));
  const zone = s.indexOf('%');
  if (zone >= 0) s = s.slice(0, zone);
  return s;
}

/** Parses an address, unwrapping IPv4-mapped IPv6 (::ffff:1.2.3.4) to IPv4. Only canonical forms are accepted. */
export function parseIp(ip: string | null | undefined): ipaddr.IPv4 | ipaddr.IPv6 | null {
  if (typeof ip !== 'string') return null;
  const s = bareAddress(ip);
  // ipaddr.isValid also takes legacy forms (1.2.3, 0x7f.1); addresses in headers are four-part decimal.
  if (ipaddr.IPv4.isValidFourPartDecimal(s)) return ipaddr.IPv4.parse(s);
  if (!s.includes(':') || !ipaddr.IPv6.isValid(s)) return null;
  const v6 = ipaddr.IPv6.parse(s);
  return v6.isIPv4MappedAddress() ? v6.toIPv4Address() : v6;
}

function truncate(addr: ipaddr.IPv4 | ipaddr.IPv6, prefixBits: number): string {
  const bytes = addr.toByteArray();
  for (let i = 0; i < bytes.length; i++) {
    const keep = Math.max(0, Math.min(8, prefixBits - i * 8));
    bytes[i] &= (0xff << (8 - keep)) & 0xff;
  }
  return ipaddr.fromByteArray(bytes).toString();
}

/**
 * The IP policy: `truncate` (default) keeps the first `v4PrefixBits` (24) of IPv4 and `v6PrefixBits` (48) of
 * IPv6, zeroing the rest; `full` keeps the address (normalized); `drop` keeps nothing. Invalid input → null.
 * IPv4-mapped IPv6 is treated as the IPv4 address it carries.
 */
export function applyIpPolicy(ip: string | null | undefined, policy: Config['ip']): string | null {
  if (policy.policy === 'drop') return null;
  const addr = parseIp(ip);
  if (!addr) return null;
  if (policy.policy === 'full') return addr.toString();
  return truncate(addr, addr.kind() === 'ipv4' ? policy.v4PrefixBits : policy.v6PrefixBits);
}

function header(
  headers: Record<string, string | string[] | undefined>,
  name: string | null | undefined,
): string | null {
  if (!name) return null;
  const raw = headers[name.toLowerCase()] ?? headers[name];
  const value = Array.isArray(raw) ? raw[0] : raw;
  if (typeof value !== 'string') return null;
  const s = value.trim();
  return s === '' ? null : s;
}

/**
 * Geo from headers a trusted load balancer adds; only the header names configured in `geo` are read.
 *
 * On Google Cloud, add them as custom request headers on the external Application Load Balancer's backend
 * service (the Terraform module does this):
 *   X-Client-Geo-Country: {client_region}              e.g. "DE"
 *   X-Client-Geo-Region:  {client_region_subdivision}  e.g. "DEBY" (stored as ISO 3166-2 "DE-BY")
 *   X-Client-Geo-City:    {client_city}                e.g. "Munich"
 * The load balancer overwrites client-sent headers of the same name. Configure these only when the service is
 * reachable solely through the load balancer (Cloud Run ingress "internal-and-cloud-load-balancing"); otherwise a
 * client could send them itself. Unknown values ("", "ZZ") give null.
 */
export function geoFromHeaders(headers: Record<string, string | string[] | undefined>, geo: Config['geo']): Geo {
  const countryRaw = header(headers, geo.countryHeader)?.toUpperCase() ?? null;
  const country = countryRaw && /^[A-Z]{2}$/.test(countryRaw) && countryRaw !== 'ZZ' ? countryRaw : null;
  let region = header(headers, geo.regionHeader)?.toUpperCase() ?? null;
  if (region) {
    const compact = /^([A-Z]{2})-?([A-Z0-9]{1,3})$/.exec(region);
    region = compact && (!country || compact[1] === country) ? `${compact[1]}-${compact[2]}` : null;
  }
  let city = header(headers, geo.cityHeader);
  // City names are short; a long value is not one (and would bloat every event).
  if (city && (city.length > 100 || [...city].some((c) => c.charCodeAt(0) < 0x20))) city = null;
  return { country, region, city };
}

/** Registrable domain (eTLD+1, private suffixes such as github.io included, as browsers treat cookies). */
function registrable(host: string | null | undefined): string | null {
  if (!host) return null;
  const h = host.trim().replace(/^\./, '').replace(/:\d+$/, '').toLowerCase();
  return getDomain(h, { allowPrivateDomains: true }) ?? null;
}

function parseUrl(url: string): URL | null {
  try {
    return new URL(url);
  } catch {
    try {
      // Relative URLs (page paths) still carry a query.
      return new URL(url, 'http://relative.invalid');
    } catch {
      return null;
    }
  }
}

const NO_PARAMS: ReadonlyMap<string, string> = new Map();

/**
 * Every hit of a page view carries the same URL, and parsing one costs microseconds: recent answers are
 * remembered (read-only maps; URLs over 2048 characters are parsed each time rather than pinned in memory).
 */
const urlParams = new BoundedCache<ReadonlyMap<string, string>>(5000, 2048);

/** Query parameters by lowercased name (first value wins); empty when the URL does not parse. */
function queryParams(url: string | null | undefined): ReadonlyMap<string, string> {
  // No `?` anywhere: there is no query component to read.
  if (typeof url !== 'string' || url === '' || !url.includes('?')) return NO_PARAMS;
  return urlParams.get(url, parseQueryParams);
}

function parseQueryParams(url: string): ReadonlyMap<string, string> {
  const out = new Map<string, string>();
  const parsed = parseUrl(url);
  if (!parsed) return out;
  for (const [key, value] of parsed.searchParams) {
    const k = key.toLowerCase();
    if (!out.has(k)) out.set(k, value);
  }
  return out;
}

/** Click ids are opaque tokens; anything else (spaces, control characters, huge values) is not one. */
const CLICK_ID = /^[A-Za-z0-9_\-.~+/=:]{1,512}$/;

function clickId(params: ReadonlyMap<string, string>, name: string): string | null {
  const v = params.get(name)?.trim();
  return v && CLICK_ID.test(v) ? v : null;
}

/** Meta cookie format `fb.{subdomainIndex}.{creationTime}.{value}`; the value may itself contain dots. */
const FB_COOKIE = /^fb\.(\d)\.(\d{10,13})\.(.+)$/;

export interface ClickIdOptions {
  now: Date | number;
  /** Cookie domain (or the request host): its registrable domain gives fbc's subdomain index. */
  cookieDomain?: string | null;
  /** Request cookies by name (`_fbc`, `_fbp`). */
  cookies?: Record<string, string | undefined>;
}

/**
 * Ad click ids from the landing URL and the Meta cookies:
 * - gclid, gbraid, wbraid (Google), ttclid (TikTok), msclkid (Microsoft), li_fat_id (LinkedIn), fbclid (Meta);
 * - fbc: an existing `_fbc` cookie when it carries the same fbclid (or when the URL has none); otherwise built
 *   as `fb.{subdomainIndex}.{nowMs}.{fbclid}` with fbclid's case preserved, subdomainIndex = labels of the
 *   registrable domain minus 1 (example.com → 1, example.co.uk → 2; 1 when no domain is known);
 * - fbp: the `_fbp` cookie when it has Meta's format;
 * - when the URL has none, the ids the vendors' own tags keep in first-party cookies, so a conversion on a later
 *   page still carries the click: gclid from Google's conversion linker `_gcl_aw` (`GCL.{seconds}.{gclid}`),
 *   msclkid from Microsoft UET's `_uetmsclkid` (`_uet{msclkid}`), li_fat_id from LinkedIn's `li_fat_id`.
 * Keys are present only when a value was found.
 */
export function clickIdsFromUrl(url: string | null | undefined, options: ClickIdOptions): Partial<ClickIds> {
  const params = queryParams(url);
  const out: Partial<ClickIds> = {};
  for (const name of ['gclid', 'gbraid', 'wbraid', 'ttclid', 'msclkid', 'li_fat_id', 'fbclid'] as const) {
    const v = clickId(params, name);
    if (v) out[name] = v;
  }
  const cookies = options.cookies ?? {};
  const fbcCookie = cookies._fbc?.trim();
  const cookieMatch = fbcCookie ? FB_COOKIE.exec(fbcCookie) : null;
  if (out.fbclid) {
    if (cookieMatch && cookieMatch[3] === out.fbclid) {
      out.fbc = fbcCookie;
    } else {
      const domain = registrable(options.cookieDomain);
      const subdomainIndex = domain ? domain.split('.').length - 1 : 1;
      const nowMs = typeof options.now === 'number' ? options.now : options.now.getTime();
      out.fbc = `fb.${subdomainIndex}.${Math.floor(nowMs)}.${out.fbclid}`;
    }
  } else if (cookieMatch) {
    out.fbc = fbcCookie;
  }
  const fbp = cookies._fbp?.trim();
  if (fbp && FB_COOKIE.test(fbp)) out.fbp = fbp;
  if (!out.gclid) {
    const v = /^GCL\.\d+\.(.+)$/.exec(cookies._gcl_aw?.trim() ?? '')?.[1];
    if (v && CLICK_ID.test(v)) out.gclid = v;
  }
  if (!out.msclkid) {
    const v = /^_uet(.+)$/.exec(cookies._uetmsclkid?.trim() ?? '')?.[1];
    if (v && CLICK_ID.test(v)) out.msclkid = v;
  }
  if (!out.li_fat_id) {
    const v = cookies.li_fat_id?.trim();
    if (v && CLICK_ID.test(v)) out.li_fat_id = v;
  }
  return out;
}

const UTM: Array<[string, keyof Campaign]> = [
  ['utm_source', 'source'],
  ['utm_medium', 'medium'],
  ['utm_campaign', 'name'],
  ['utm_term', 'term'],
  ['utm_content', 'content'],
  ['utm_id', 'id'],
];

/** Campaign fields from UTM parameters (utm_campaign → name). Keys present only when set; values capped at 500. */
export function campaignFromUrl(url: string | null | undefined): Campaign {
  const params = queryParams(url);
  const out: Campaign = {};
  for (const [param, field] of UTM) {
    const v = params.get(param)?.trim();
    if (v) out[field] = v.slice(0, 500);
  }
  return out;
}
