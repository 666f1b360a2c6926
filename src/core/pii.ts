/**
 * The one PII kit (DESIGN.md, principle 6): per-vendor normalization, SHA-256 hashing, free-text and URL
 * redaction, and the collector's PII guard. Destinations and the collector use only this module; vendor rules
 * are in reference/destinations.md section 0 and are pinned by golden tests (test/fixtures/pii/*.json).
 *
 * | Variant     | Email                                                  | Phone                       |
 * |-------------|--------------------------------------------------------|-----------------------------|
 * | `canonical` | trim, lowercase (what the collector stores)            | E.164 with `+`              |
 * | `meta`      | trim, lowercase                                        | E.164 digits, no `+`        |
 * | `ga4`       | trim, lowercase; gmail/googlemail: drop dots before @  | E.164 with `+`              |
 * | `google_dm` | lowercase, no whitespace; gmail/googlemail: drop dots and `+suffix` | E.164 with `+` |
 * | `tiktok`    | trim, lowercase                                        | E.164 with `+`              |
 *
 * A value that already is a SHA-256 hex digest is passed through lowercased: never hashed twice.
 */
import { BoundedCache } from './cache';
import { createHash } from 'node:crypto';
import { isPlainData } from './event';

export const PII_VARIANTS = ['canonical', 'meta', 'ga4', 'google_dm', 'tiktok'] as const;
export type PiiVariant = (typeof PII_VARIANTS)[number];

export const IDENTIFIER_KINDS = [
  'email',
  'phone',
  'first_name',
  'last_name',
  'street',
  'city',
  'state',
  'zip',
  'country',
  'gender',
  'dob',
  'external_id',
] as const;
export type IdentifierKind = (typeof IDENTIFIER_KINDS)[number];

export type HashEncoding = 'hex' | 'base64';

const SHA256_HEX = /^[0-9a-fA-F]{64}$/;

export function sha256Hex(value: string): string {
  return createHash('sha256').update(value, 'utf8').digest('hex');
}

/** 64 hex characters: an already-hashed identifier. */
export function isSha256Hex(value: unknown): value is string {
  return typeof value === 'string' && SHA256_HEX.test(value.trim());
}

function text(value: unknown): string | null {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value !== 'string') return null;
  const s = value.normalize('NFC').trim();
  return s === '' ? null : s;
}

// ---------------------------------------------------------------- email

const EMAIL_SHAPE = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;
const GMAIL_DOMAINS = new Set(['gmail.com', 'googlemail.com']);

/** Normalized email for the variant, or null when the value is not an email address. */
export function normalizeEmail(value: unknown, variant: PiiVariant = 'canonical'): string | null {
  let s = text(value);
  if (s === null) return null;
  s = s.toLowerCase();
  // Data Manager: "trim leading, trailing and intermediate whitespace".
  if (variant === 'google_dm') s = s.replace(/\s+/g, '');
  if (!EMAIL_SHAPE.test(s)) return null;
  const at = s.lastIndexOf('@');
  let local = s.slice(0, at);
  const domain = s.slice(at + 1);
  if (GMAIL_DOMAINS.has(domain)) {
    // Google Ads / GA4: remove the dots before @ in gmail addresses; Data Manager also drops a +tag.
    if (variant === 'ga4' || variant === 'google_dm') local = local.replace(/\./g, '');
    if (variant === 'google_dm') local = local.replace(/\+.*$/, '');
    if (local === '') return null;
  }
  return `${local}@${domain}`;
}

// ---------------------------------------------------------------- phone

/**
 * E.164 digits (without `+`) or null. A number written with `+` or a `00` international prefix is taken as
 * international. Otherwise, with `defaultCountryCode`, it is national: one trunk `0` is dropped and the country
 * code prefixed, unless the digits already start with that code and are 11+ long (e.g. `16505551212` for +1).
 * Without a default the digits are taken to include the country code (Meta's rule: "always include it").
 */
function e164Digits(value: unknown, defaultCountryCode?: string | number | null): string | null {
  const s = text(value);
  if (s === null) return null;
  // Letters mean it is not a phone number (extensions such as "x12" are not matchable either).
  if (/[a-z]/i.test(s)) return null;
  if (!/^[+\d\s().\-/]+$/.test(s)) return null;
  // "+49 (0)30 …": the bracketed trunk zero is dialled only nationally.
  let digits = s.replace(/\(0\)/g, '').replace(/\D/g, '');
  const international = s.startsWith('+') || /^00/.test(digits);
  if (international) {
    if (!s.startsWith('+')) digits = digits.slice(2);
  } else if (defaultCountryCode !== undefined && defaultCountryCode !== null && defaultCountryCode !== '') {
    const cc = String(defaultCountryCode).replace(/\D/g, '');
    if (!(digits.startsWith(cc) && digits.length >= 11)) {
      digits = cc + digits.replace(/^0/, '');
    }
  }
  // E.164: at most 15 digits, country codes never start with 0; under 7 digits nothing real remains.
  if (digits.length < 7 || digits.length > 15 || digits.startsWith('0')) return null;
  return digits;
}

/** Normalized phone for the variant (`+` E.164, or digits only for Meta), or null when it is not a phone number. */
export function normalizePhone(
  value: unknown,
  variant: PiiVariant = 'canonical',
  defaultCountryCode?: string | number | null,
): string | null {
  const digits = e164Digits(value, defaultCountryCode);
  if (digits === null) return null;
  return variant === 'meta' ? digits : `+${digits}`;
}

// ---------------------------------------------------------------- names and address

const NAME_PREFIXES = new Set(['mr', 'mrs', 'ms', 'miss', 'mx', 'dr', 'prof']);
const NAME_SUFFIXES = new Set(['jr', 'sr', 'ii', 'iii', 'iv', 'phd', 'md', 'esq']);

/**
 * First/last name. Meta: lowercase, no punctuation. GA4 and Data Manager: also no digits or symbols, and Data
 * Manager asks for no prefixes (Mrs.) or suffixes (Jr.). Letters outside a-z are kept (UTF-8, as Meta allows).
 */
function normalizeName(value: unknown, variant: PiiVariant, kind: 'first_name' | 'last_name'): string | null {
  const s = text(value);
  if (s === null) return null;
  let words = s
    .toLowerCase()
    // Punctuation goes without a trace (O'Brien → obrien, Mary-Ann → maryann); words stay apart.
    .replace(variant === 'meta' || variant === 'canonical' ? /[\p{P}\p{S}]/gu : /[\p{P}\p{S}\p{N}]/gu, '')
    .split(/\s+/)
    .filter(Boolean);
  if (variant === 'google_dm' || variant === 'ga4') {
    if (kind === 'first_name') while (words.length > 1 && NAME_PREFIXES.has(words[0])) words = words.slice(1);
    if (kind === 'last_name')
      while (words.length > 1 && NAME_SUFFIXES.has(words[words.length - 1])) words = words.slice(0, -1);
  }
  const out = words.join(' ');
  return out === '' ? null : out;
}

export function normalizeFirstName(value: unknown, variant: PiiVariant = 'meta'): string | null {
  return normalizeName(value, variant, 'first_name');
}

export function normalizeLastName(value: unknown, variant: PiiVariant = 'meta'): string | null {
  return normalizeName(value, variant, 'last_name');
}

/** Street (GA4 `sha256_street`): lowercase, symbols removed, single spaces. */
export function normalizeStreet(value: unknown): string | null {
  const s = text(value);
  if (s === null) return null;
  const out = s
    .toLowerCase()
    .replace(/[\p{P}\p{S}]/gu, ' ')
    .replace(/\s+/g, ' ')
    .trim();
  return out === '' ? null : out;
}

/** Meta `ct`: lowercase, only letters (no digits, spaces or punctuation): "Menlo Park" → "menlopark". */
export function normalizeCity(value: unknown): string | null {
  const s = text(value);
  if (s === null) return null;
  const out = s.toLowerCase().replace(/[^\p{L}]/gu, '');
  return out === '' ? null : out;
}

const US_STATES: Record<string, string> = {
  alabama: 'al', alaska: 'ak', arizona: 'az', arkansas: 'ar', california: 'ca', colorado: 'co', connecticut: 'ct',
  delaware: 'de', districtofcolumbia: 'dc', florida: 'fl', georgia: 'ga', hawaii: 'hi', idaho: 'id', illinois: 'il',
  indiana: 'in', iowa: 'ia', kansas: 'ks', kentucky: 'ky', louisiana: 'la', maine: 'me', maryland: 'md',
  massachusetts: 'ma', michigan: 'mi', minnesota: 'mn', mississippi: 'ms', missouri: 'mo', montana: 'mt',
  nebraska: 'ne', nevada: 'nv', newhampshire: 'nh', newjersey: 'nj', newmexico: 'nm', newyork: 'ny',
  northcarolina: 'nc', northdakota: 'nd', ohio: 'oh', oklahoma: 'ok', oregon: 'or', pennsylvania: 'pa',
  rhodeisland: 'ri', southcarolina: 'sc', southdakota: 'sd', tennessee: 'tn', texas: 'tx', utah: 'ut',
  vermont: 'vt', virginia: 'va', washington: 'wa', westvirginia: 'wv', wisconsin: 'wi', wyoming: 'wy',
  puertorico: 'pr',
}; // prettier-ignore

/**
 * Meta `st`: the 2-letter ANSI code in lowercase for US states (full names are mapped); elsewhere lowercase
 * with no punctuation, special characters or spaces.
 */
export function normalizeState(value: unknown): string | null {
  const s = text(value);
  if (s === null) return null;
  const out = s.toLowerCase().replace(/[^\p{L}\p{N}]/gu, '');
  if (out === '') return null;
  return US_STATES[out] ?? out;
}

/**
 * Meta `zp`: lowercase, no spaces, the part before a dash; US ZIP+4 → the first 5 digits.
 * UK postcodes keep area, district and sector ("SW1A 1AA" → "sw1a1aa").
 */
export function normalizeZip(value: unknown, country?: string | null): string | null {
  const s = text(value);
  if (s === null) return null;
  let out = s.toLowerCase().replace(/\s+/g, '');
  out = out.split('-')[0];
  const isUs = (country ?? '').toLowerCase() === 'us';
  if (isUs || /^\d{9}$/.test(out)) {
    const m = /^(\d{5})/.exec(out);
    if (m) out = m[1];
  }
  return out === '' ? null : out;
}

const COUNTRY_ALIASES: Record<string, string> = {
  uk: 'gb',
  usa: 'us',
  unitedstates: 'us',
  unitedstatesofamerica: 'us',
  unitedkingdom: 'gb',
  greatbritain: 'gb',
  deutschland: 'de',
  germany: 'de',
  france: 'fr',
};

/** ISO 3166-1 alpha-2 in lowercase (Meta `country`); a few common names are mapped, anything else is null. */
export function normalizeCountry(value: unknown): string | null {
  const s = text(value);
  if (s === null) return null;
  const out = s.toLowerCase().replace(/[^a-z]/g, '');
  if (COUNTRY_ALIASES[out]) return COUNTRY_ALIASES[out];
  return /^[a-z]{2}$/.test(out) ? out : null;
}

/** Meta `ge`: `f` or `m`; anything else is null (not guessed). */
export function normalizeGender(value: unknown): string | null {
  const s = text(value);
  if (s === null) return null;
  const v = s.toLowerCase();
  if (['f', 'female', 'woman', 'w'].includes(v)) return 'f';
  if (['m', 'male', 'man'].includes(v)) return 'm';
  return null;
}

/**
 * Meta `db`: YYYYMMDD. Accepts YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD and ISO timestamps (date part). Day-first or
 * month-first forms are ambiguous and give null rather than a wrong date.
 */
export function normalizeDob(value: unknown): string | null {
  const s = value instanceof Date ? (Number.isNaN(value.getTime()) ? null : value.toISOString()) : text(value);
  if (s === null) return null;
  const m = /^(\d{4})[-/.]?(\d{2})[-/.]?(\d{2})(?:$|T)/.exec(s);
  if (!m) return null;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) return null;
  if (y < 1900) return null;
  return `${m[1]}${m[2]}${m[3]}`;
}

/** External ids are opaque: only surrounding whitespace is removed. */
export function normalizeExternalId(value: unknown): string | null {
  return text(value);
}

/** Normalized value for one identifier kind, or null when it cannot be used. */
export function normalizeIdentifier(
  kind: IdentifierKind,
  value: unknown,
  variant: PiiVariant = 'canonical',
  defaultCountryCode?: string | number | null,
): string | null {
  switch (kind) {
    case 'email':
      return normalizeEmail(value, variant);
    case 'phone':
      return normalizePhone(value, variant, defaultCountryCode);
    case 'first_name':
      return normalizeFirstName(value, variant);
    case 'last_name':
      return normalizeLastName(value, variant);
    case 'street':
      return normalizeStreet(value);
    case 'city':
      return normalizeCity(value);
    case 'state':
      return normalizeState(value);
    case 'zip':
      return normalizeZip(value);
    case 'country':
      return normalizeCountry(value);
    case 'gender':
      return normalizeGender(value);
    case 'dob':
      return normalizeDob(value);
    case 'external_id':
      return normalizeExternalId(value);
  }
}

/**
 * Normalizes and hashes one identifier for a vendor. An input that already is a SHA-256 hex digest is passed
 * through (lowercased; re-encoded when base64 is asked for), never hashed again. Null when unusable.
 * Data Manager takes `encoding: BASE64` as well as HEX.
 */
export function hashIdentifier(
  kind: IdentifierKind,
  value: unknown,
  variant: PiiVariant = 'canonical',
  encoding: HashEncoding = 'hex',
  defaultCountryCode?: string | number | null,
): string | null {
  if (isSha256Hex(value)) {
    const hex = value.trim().toLowerCase();
    return encoding === 'hex' ? hex : Buffer.from(hex, 'hex').toString('base64');
  }
  const normalized = normalizeIdentifier(kind, value, variant, defaultCountryCode);
  if (normalized === null) return null;
  return createHash('sha256').update(normalized, 'utf8').digest(encoding);
}

// ---------------------------------------------------------------- redaction

export const EMAIL_PLACEHOLDER = '[email]';
export const PHONE_PLACEHOLDER = '[phone]';

/*
 * One scanner, alternatives tried left to right at each position: things that look numeric but are not phone
 * numbers (ISO dates and times, IPv4 addresses, UUIDs) are matched first and kept; then emails; then phone-like
 * runs. A phone-like run is 7-15 digits with a leading `+` or `(`, or with separators (space ( ) . -) between
 * digit groups. Bare digit runs are kept: order ids and epoch timestamps look the same, and phone numbers in
 * free text are rarely written without separators (identifier keys such as `phone` are handled by key).
 * A run glued to a word or a dash (`INV-2026-000123`) is an id, not a phone number.
 * Every repetition is bounded (local part ≤ 128, twice RFC 5321's 64; labels ≤ 63; phone runs ≤ 26
 * characters) and runs start only at their first character, so the scan stays linear on hostile input such as
 * 32 KB of letters or of `1 1 1 …`.
 */
const SCAN = new RegExp(
  [
    String.raw`(?<keep>\b\d{4}-\d{2}-\d{2}(?!\d)(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?|\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b)`,
    String.raw`(?<email>(?<![A-Za-z0-9._%+'-])[A-Za-z0-9._%+'-]{1,128}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24})`,
    String.raw`(?<phone>(?<![\w+/-])(?:\+|\(\+?)?\d[\d\s().-]{5,24}\d(?!\w))`,
  ].join('|'),
  'g',
);

function looksLikePhone(candidate: string): boolean {
  const digits = candidate.replace(/\D/g, '');
  if (digits.length < 7 || digits.length > 15) return false;
  if (candidate.startsWith('+') || candidate.startsWith('(')) return true;
  if (!/\d[\s().-]+\d/.test(candidate) || /\s{2,}/.test(candidate)) return false;
  if (/^[\d.]+$/.test(candidate)) {
    // Dots only: 650.555.1212 is a phone number; 1234567.89 (an amount) and 10.0.19045.2965 (a version) are not.
    const groups = candidate.split('.');
    return groups.length >= 3 && groups.every((g) => g.length >= 2);
  }
  return true;
}

/**
 * Cheap pre-check before the scanner: an email needs an `@`, and a phone number that looksLikePhone accepts needs
 * 7 digits. Most property values (ids, names, prices, currency codes) have neither and skip the regex entirely.
 */
function mayHoldPii(s: string): boolean {
  let digits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 64) return true;
    if (c >= 48 && c <= 57 && ++digits >= 7) return true;
  }
  return false;
}

/** Emails → `[email]`, phone-number-like sequences → `[phone]`. Safe inside JSON text (never touches quotes). */
export function redactText(s: string): string {
  if (typeof s !== 'string' || s === '' || !mayHoldPii(s)) return s;
  return s.replace(SCAN, (match: string, ...args: unknown[]) => {
    const groups = args[args.length - 1] as Record<string, string | undefined>;
    if (groups.keep !== undefined) return match;
    if (groups.email !== undefined) return EMAIL_PLACEHOLDER;
    return looksLikePhone(match) ? PHONE_PLACEHOLDER : match;
  });
}

/** Keys whose value is personal data even when it does not look like it (e.g. a phone written as bare digits). */
const EMAIL_KEY = /^(e|em|email|e-mail|mail|email_?address|user_?email)$/i;
const PHONE_KEY = /^(ph|phone|tel|telephone|mobile|phone_?number|mobile_?number)$/i;

/** Longest key either pattern can match (`email_address`, `mobile_number`). */
const MAX_PII_KEY = 13;
/** Property names repeat across events; the answer per name is remembered. */
const keyPlaceholders = new BoundedCache<string | null>(2000);

function placeholderForKeyUncached(key: string): string | null {
  if (EMAIL_KEY.test(key)) return EMAIL_PLACEHOLDER;
  if (PHONE_KEY.test(key)) return PHONE_PLACEHOLDER;
  return null;
}

function placeholderForKey(key: string): string | null {
  return key.length > MAX_PII_KEY ? null : keyPlaceholders.get(key, placeholderForKeyUncached);
}

function safeDecode(part: string): string {
  try {
    return decodeURIComponent(part.replace(/\+/g, ' '));
  } catch {
    return part;
  }
}

/** Percent-encodes a redacted URL part, leaving the placeholders readable. */
function encodeRedacted(s: string): string {
  return encodeURIComponent(s).replace(/%5B(email|phone)%5D/g, '[$1]');
}

/** Redacts one URL part: unchanged parts are returned byte for byte. */
function redactUrlPart(part: string): string {
  const direct = redactText(part);
  if (direct !== part) return direct;
  const decoded = safeDecode(part);
  const redacted = redactText(decoded);
  return redacted === decoded ? part : encodeRedacted(redacted);
}

function redactQuery(query: string): string {
  return query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      if (eq < 0) return redactUrlPart(pair);
      const key = pair.slice(0, eq);
      const raw = pair.slice(eq + 1);
      const byKey = placeholderForKey(safeDecode(key));
      if (byKey && raw !== '' && !isSha256Hex(safeDecode(raw))) return `${key}=${byKey}`;
      return `${key}=${redactUrlPart(raw)}`;
    })
    .join('&');
}

/**
 * A URL with personal data in query values, path segments and the fragment replaced by placeholders. Parts
 * without personal data are kept byte for byte (no re-encoding), so the URL still matches what the page sent.
 * Never throws: anything unparsable is treated as free text.
 */
export function redactUrl(url: string): string {
  if (typeof url !== 'string' || url === '') return url;
  return redactedUrls.get(url, redactUrlUncached);
}

/**
 * Pages repeat across events (every hit of a visit carries the same URL and query): remember recent answers.
 * Keys are the raw text, so a cached answer is exactly what the redaction would compute. Very long texts are
 * computed each time rather than pinned in memory.
 */
const REDACTION_CACHE = 5000;
const MAX_CACHED_TEXT = 2048;
const redactedUrls = new BoundedCache<string>(REDACTION_CACHE, MAX_CACHED_TEXT);
const redactedSearches = new BoundedCache<string>(REDACTION_CACHE, MAX_CACHED_TEXT);

function redactUrlUncached(url: string): string {
  const hashAt = url.indexOf('#');
  const beforeHash = hashAt < 0 ? url : url.slice(0, hashAt);
  const fragment = hashAt < 0 ? null : url.slice(hashAt + 1);
  const queryAt = beforeHash.indexOf('?');
  const base = queryAt < 0 ? beforeHash : beforeHash.slice(0, queryAt);
  const query = queryAt < 0 ? null : beforeHash.slice(queryAt + 1);

  // Scheme and host are kept (a host is not personal data); each path segment is checked.
  const authority = /^([a-z][a-z0-9+.-]*:\/\/[^/]*)(.*)$/i.exec(base);
  const origin = authority ? authority[1] : '';
  const path = authority ? authority[2] : base;
  let out = origin + path.split('/').map(redactUrlPart).join('/');
  if (query !== null) out += `?${redactQuery(query)}`;
  if (fragment !== null) {
    // Single-page apps keep state in the fragment (#/checkout?email=...): treat a `?` or `=` there as a query.
    const q = fragment.indexOf('?');
    if (q >= 0) out += `#${redactUrlPart(fragment.slice(0, q))}?${redactQuery(fragment.slice(q + 1))}`;
    else if (fragment.includes('=')) out += `#${redactQuery(fragment)}`;
    else out += `#${redactUrlPart(fragment)}`;
  }
  return out;
}

/** `?a=b&c=d` or `a=b&c=d` (the page's `search`), redacted like a URL query. */
export function redactSearch(search: string): string {
  if (typeof search !== 'string' || search === '') return search;
  return redactedSearches.get(search, redactSearchUncached);
}

function redactSearchUncached(search: string): string {
  return search.startsWith('?') ? `?${redactQuery(search.slice(1))}` : redactQuery(search);
}

// ---------------------------------------------------------------- the collector's guard

/** Deepest nesting walked key by key; deeper subtrees are redacted as JSON text (same result, no recursion). */
const MAX_DEPTH = 16;

/** Sets an own property; for a `__proto__` key via defineProperty, so it stays data and never sets the prototype. */
function setOwn(out: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__')
    Object.defineProperty(out, k, { value: v, enumerable: true, writable: true, configurable: true });
  else out[k] = v;
}

/**
 * Redacts a JSON value. Copy on write: a subtree with nothing to redact is returned as it is (no copy), so an event
 * without personal data costs one walk and no allocation.
 */
function redactValue(value: unknown, depth: number, key: string | null): unknown {
  if (key !== null && (typeof value === 'string' || typeof value === 'number')) {
    const byKey = placeholderForKey(key);
    if (byKey && value !== '' && !isSha256Hex(value)) return byKey;
  }
  if (typeof value === 'string') return redactText(value);
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) {
    try {
      return JSON.parse(redactText(JSON.stringify(value))) as unknown;
    } catch {
      return '[unserializable]';
    }
  }
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const r = redactValue(v, depth + 1, null);
      // Object.is: NaN (possible outside JSON) is returned as it is and must not count as a change
      if (out === null && !Object.is(r, v)) out = value.slice(0, i);
      if (out !== null) out.push(r);
    }
    return out ?? value;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj);
  // Anything but plain data (a class instance, never from JSON) is always rebuilt from its own fields, as a plain
  // object.
  let out: Record<string, unknown> | null = isPlainData(obj) ? null : {};
  for (let i = 0; i < keys.length; i++) {
    const k = keys[i];
    const v = obj[k];
    const r = redactValue(v, depth + 1, k);
    if (out === null && !Object.is(r, v)) {
      out = {};
      for (let j = 0; j < i; j++) setOwn(out, keys[j], obj[keys[j]]);
    }
    if (out !== null) setOwn(out, k, r);
  }
  return out ?? obj;
}

/** `properties` with emails and phone numbers redacted (by key and in free text); the same object when clean. */
export function redactProperties(properties: Record<string, unknown>): Record<string, unknown> {
  return redactValue(properties, 0, null) as Record<string, unknown>;
}

/** A page object's URL-ish fields redacted (`redactUrl`, `redactSearch`, `redactText` for the title); a copy. */
export function redactPage<P extends GuardablePage>(page: P): P {
  const p = { ...page };
  if (typeof p.url === 'string') p.url = redactUrl(p.url);
  if (typeof p.referrer === 'string') p.referrer = redactUrl(p.referrer);
  if (typeof p.search === 'string') p.search = redactSearch(p.search);
  if (typeof p.path === 'string') p.path = redactUrl(p.path);
  if (typeof p.title === 'string') p.title = redactText(p.title);
  return p;
}

/** Where the guard looks for identifiers, most trusted first. */
const EMAIL_KEYS = ['email', 'email_address', 'emailAddress', 'user_email'];
const PHONE_KEYS = ['phone', 'phone_number', 'phoneNumber', 'mobile'];

/** The page fields the guard redacts. */
interface GuardablePage {
  url?: string | null;
  referrer?: string | null;
  search?: string | null;
  path?: string | null;
  title?: string | null;
}

interface GuardableEvent {
  context?: {
    page?: GuardablePage | null;
    traits?: unknown;
  } | null;
  properties?: Record<string, unknown> | null;
  traits?: Record<string, unknown> | null;
  identifiers?: { email_sha256?: string | null; phone_sha256?: string | null } | null;
}

function firstHash(
  kind: 'email' | 'phone',
  keys: string[],
  sources: Array<Record<string, unknown> | null | undefined>,
  defaultCountryCode?: string | number | null,
): string | null {
  const hashedKey = kind === 'email' ? 'email_sha256' : 'phone_sha256';
  for (const source of sources) {
    if (!source || typeof source !== 'object') continue;
    for (const key of keys) {
      const value = source[key];
      if (value === undefined) continue;
      const hash = hashIdentifier(kind, value, 'canonical', 'hex', defaultCountryCode);
      if (hash) return hash;
    }
    const hashed = source[hashedKey];
    if (isSha256Hex(hashed)) return hashed.trim().toLowerCase();
  }
  return null;
}

export interface GuardOptions {
  /** Calling code for phone numbers written without one (e.g. from the site's market). */
  defaultCountryCode?: string | number | null;
}

/**
 * The collector's PII guard. Returns a copy of the event with:
 * - `context.page.url/referrer/search/path/title` redacted (`redactUrl` / `redactText`);
 * - every string in `properties` redacted (emails and phone numbers in free text become placeholders);
 * - `identifiers.email_sha256/phone_sha256` filled from, in order: identifiers already present, `traits`,
 *   `context.traits`, `properties` (email, phone and `*_sha256` keys), hashed with the canonical variant.
 * Plaintext `traits.email` / `traits.phone` stay in `traits`: CRM upserts (HubSpot, Salesforce) match on them and
 * vendor variants need the plaintext to normalize (a canonical hash cannot be re-normalized, e.g. Data Manager's
 * gmail rule). The warehouse's `traits` column is therefore personal data and is access-controlled as such.
 */
export type GuardedIdentifiers = { email_sha256?: string; phone_sha256?: string };

export function guardEvent<T extends GuardableEvent>(
  event: T,
  options: GuardOptions = {},
): T & { identifiers: GuardedIdentifiers } {
  const out = { ...event } as T & { identifiers: GuardedIdentifiers };
  const page = event.context?.page;
  if (event.context) {
    const context = { ...event.context };
    if (page) context.page = redactPage(page);
    out.context = context;
  }
  const contextTraits =
    event.context?.traits && typeof event.context.traits === 'object'
      ? (event.context.traits as Record<string, unknown>)
      : null;
  const properties = event.properties ?? null;
  out.identifiers = identifiersFrom(
    event.identifiers ?? {},
    [event.traits ?? null, contextTraits, properties],
    options,
  );
  if (properties) out.properties = { ...redactProperties(properties) };
  return out;
}

/**
 * `identifiers.email_sha256/phone_sha256`: the ones already present, else hashed (canonical variant) from the
 * first source that has an email / phone key or an `*_sha256` key. Sources are searched in order, before redaction.
 */
export function identifiersFrom(
  existing: { email_sha256?: string | null; phone_sha256?: string | null },
  sources: Array<Record<string, unknown> | null | undefined>,
  options: GuardOptions = {},
): GuardedIdentifiers {
  const email = isSha256Hex(existing.email_sha256)
    ? existing.email_sha256.trim().toLowerCase()
    : firstHash('email', EMAIL_KEYS, sources, options.defaultCountryCode);
  const phone = isSha256Hex(existing.phone_sha256)
    ? existing.phone_sha256.trim().toLowerCase()
    : firstHash('phone', PHONE_KEYS, sources, options.defaultCountryCode);
  const identifiers: GuardedIdentifiers = {};
  if (email) identifiers.email_sha256 = email;
  if (phone) identifiers.phone_sha256 = phone;
  return identifiers;
}
