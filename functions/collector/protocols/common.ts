/**
 * Helpers shared by the protocol parsers: deterministic event ids, stable JSON, page URL parts, numbers from
 * query strings. Pure functions, no I/O.
 */
import crypto, { createHash } from 'node:crypto';
import { BoundedCache } from '../../../src/core/cache';
import { FORBIDDEN_KEYS, isPlainData } from '../../../src/core/event';

/** Canonical v1 caps ids and names at 200 characters (event_id, event, anonymous_id, user_id). */
export const MAX_ID_LENGTH = 200;

/** How much of an oversized item is kept for the quarantine record and the debug view. */
export const RAW_PREVIEW_CHARS = 4096;

/** Deeper nesting is refused: findForbiddenKey stops looking at 32 levels, so nothing deeper is trusted. */
export const MAX_DEPTH = 32;

/** JSON with object keys sorted at every level, so equal payloads hash equally whatever the key order. */
export function stableJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    const s = JSON.stringify(value);
    // JSON.stringify yields undefined for undefined/functions/symbols; they never come out of JSON.parse.
    return s === undefined ? 'null' : s;
  }
  if (Array.isArray(value)) return `[${value.map(stableJson).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableJson(obj[k])}`).join(',')}}`;
}

/** One-shot hashing (Node >= 20.12): the same digest as createHash without building a Hash object per call. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'hex') => string }).hash;

function sha256Hex(text: string): string {
  return oneShotHash ? oneShotHash('sha256', text, 'hex') : createHash('sha256').update(text).digest('hex');
}

function escapePart(p: string): string {
  return p.includes('\\') || p.includes('|') ? p.replace(/\\/g, '\\\\').replace(/\|/g, '\\|') : p;
}

/**
 * Deterministic event id: the prefix and the first 40 hex digits (160 bits) of the SHA-256 of the parts joined
 * by `|`, with `\` and `|` inside a part escaped so distinct part lists never join to the same text.
 */
export function hashId(prefix: string, parts: readonly string[]): string {
  return `${prefix}${sha256Hex(parts.map(escapePart).join('|')).slice(0, 40)}`;
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Nesting depth of a JSON value (a scalar is 0), stopping early once it exceeds `limit`. */
export function depthExceeds(value: unknown, limit: number, depth = 0): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (depth >= limit) return true;
  const children = Array.isArray(value) ? value : Object.values(value as Record<string, unknown>);
  return children.some((c) => depthExceeds(c, limit, depth + 1));
}

/** Longest text a finite number serializes to in JSON (`-1.2345678901234567e-100`), with room to spare. */
const NUMBER_BOUND = 25;

/**
 * True when a JSON value (a parsed request item) certainly passes the item checks: its JSON.stringify size is
 * at most `maxBytes`, nothing sits at `maxDepth` levels or deeper, and no object key is forbidden anywhere.
 * One walk with an upper bound on the size (every UTF-16 unit of a string as its worst case, a 6-byte `\uXXXX`
 * escape) instead of serializing the item and walking it twice more. False means "check exactly", not "reject".
 */
export function clearlyAcceptable(value: unknown, maxBytes: number, maxDepth: number): boolean {
  return sizeBound(value, 0, maxDepth, maxBytes) <= maxBytes;
}

/** Upper bound of the UTF-8 size of JSON.stringify(value); Infinity when the value needs the exact checks. */
function sizeBound(value: unknown, depth: number, maxDepth: number, budget: number): number {
  switch (typeof value) {
    case 'string':
      return 2 + 6 * value.length;
    case 'number':
      return NUMBER_BOUND;
    case 'boolean':
      return 5;
    case 'undefined':
      return 4;
    case 'object':
      break;
    default:
      // Functions, symbols, bigints never come out of JSON.parse.
      return Infinity;
  }
  if (value === null) return 4;
  if (depth >= maxDepth) return Infinity;
  let total = 2;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length && total <= budget; i++) {
      total += 1 + sizeBound(value[i], depth + 1, maxDepth, budget);
    }
    return total;
  }
  // Dates and other class instances (toJSON, getters) are measured exactly.
  if (!isPlainData(value)) return Infinity;
  for (const key in value) {
    if (FORBIDDEN_KEYS.has(key)) return Infinity;
    total += 4 + 6 * key.length + sizeBound(value[key], depth + 1, maxDepth, budget);
    if (total > budget) return total;
  }
  return total;
}

export function isForbiddenName(name: string): boolean {
  return FORBIDDEN_KEYS.has(name);
}

type PageParts = { path?: string; search?: string; host?: string };

/**
 * Every event of a page view carries the same URL, and `new URL` costs microseconds: remember recent answers (URLs
 * up to 2048 characters; longer ones are parsed each time rather than pinned in memory).
 */
const pagePartsCache = new BoundedCache<Readonly<PageParts>>(5000, 2048);

/** Host, path and query string of a page URL; empty when the URL does not parse. The result is shared: read only. */
export function pageParts(url: string): Readonly<PageParts> {
  return pagePartsCache.get(url, pagePartsUncached);
}

function pagePartsUncached(url: string): PageParts {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return {};
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return {};
  return { host: u.host, path: u.pathname, search: u.search };
}

let lastIsoMs = NaN;
let lastIso = '';

/**
 * `new Date(ms).toISOString()`, remembering the last answer: the events of a batch, and hits arriving within the
 * same millisecond, share their times.
 */
export function isoTime(ms: number): string {
  if (ms !== lastIsoMs) {
    lastIso = new Date(ms).toISOString();
    lastIsoMs = ms;
  }
  return lastIso;
}

/** A finite number from a query-string value, or undefined (`''`, `NaN`, `1e999`, `12abc` are not numbers). */
export function toNumber(s: string | null | undefined): number | undefined {
  if (s === null || s === undefined) return undefined;
  const t = s.trim();
  if (t === '' || !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(t)) return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/**
 * A copy without the keys whose value is undefined, so parsed events compare and serialize cleanly. A copy rather
 * than `delete`: deleting a property turns a V8 object into a slow dictionary-mode object, and every later read,
 * spread and JSON.stringify of the event pays for it.
 */
export function compact<T extends Record<string, unknown>>(obj: T): T {
  const out: Record<string, unknown> = {};
  for (const k in obj) {
    const v = obj[k];
    if (v !== undefined) out[k] = v;
  }
  return out as T;
}

/** True when the object has at least one key (after compaction). */
export function nonEmpty(obj: Record<string, unknown> | undefined): boolean {
  return obj !== undefined && Object.keys(obj).length > 0;
}
