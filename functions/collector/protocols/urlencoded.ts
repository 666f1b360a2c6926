/**
 * `application/x-www-form-urlencoded` text (a query string, a line of a GA4 POST body) read exactly as
 * `new URLSearchParams(text)` reads it (the WHATWG URL standard's parser, as Node implements it: `+` is a space,
 * percent escapes are decoded as UTF-8 with U+FFFD for bad bytes, malformed escapes stay as they are), into two
 * parallel arrays of names and values instead of an object whose every `get` scans the whole list. Separators
 * are found with indexOf, and a part with no `+` and no escape is used as sliced. `urlencoded.test.ts` compares
 * both on arbitrary text.
 */
import querystring from 'node:querystring';

export interface Pairs {
  /** Names and values in the order they appear; `names[i]` goes with `values[i]`. */
  readonly names: string[];
  readonly values: string[];
}

/**
 * A well-formed percent escape, as Node's URLSearchParams looks for one: `+` signs between the `%` and its two hex
 * digits are skipped. Only a part holding one is decoded (the rest of it may still hold malformed escapes).
 */
const ESCAPE = /%\+*[0-9A-Fa-f]\+*[0-9A-Fa-f]/;

/** One name or value as URLSearchParams reads it: `+` is a space, then escapes are decoded as UTF-8. */
function decodePart(part: string): string {
  const encoded = part.includes('%') && ESCAPE.test(part);
  const spaced = part.includes('+') ? part.replaceAll('+', ' ') : part;
  return encoded ? querystring.unescape(spaced) : spaced;
}

/** Parses urlencoded text (a leading `?` is skipped, as URLSearchParams skips it). */
export function parsePairs(input: string): Pairs {
  // URLSearchParams takes a USVString: lone surrogates become U+FFFD before parsing.
  const text = input.isWellFormed() ? input : input.toWellFormed();
  const names: string[] = [];
  const values: string[] = [];
  const length = text.length;
  let start = text.charCodeAt(0) === 63 /* ? */ ? 1 : 0;
  while (start < length) {
    let end = text.indexOf('&', start);
    if (end < 0) end = length;
    // Empty text between two separators is no pair; a pair without `=` is a name with an empty value.
    if (end > start) {
      const eq = text.indexOf('=', start);
      if (eq >= 0 && eq < end) {
        names.push(decodePart(text.slice(start, eq)));
        values.push(decodePart(text.slice(eq + 1, end)));
      } else {
        names.push(decodePart(text.slice(start, end)));
        values.push('');
      }
    }
    start = end + 1;
  }
  return { names, values };
}

/** The first value of each name: `get(name)` on the result answers as URLSearchParams.get does (but undefined). */
export function firstValues(pairs: Pairs): Map<string, string> {
  const firsts = new Map<string, string>();
  const { names, values } = pairs;
  for (let i = 0; i < names.length; i++) if (!firsts.has(names[i])) firsts.set(names[i], values[i]);
  return firsts;
}

/**
 * `base` with every name of `over` set to over's first value for it, as URLSearchParams.set does name by name:
 * the first pair of a name takes the new value in place, later pairs of that name go, and names base lacks are
 * appended in over's order.
 */
export function overridePairs(base: Pairs, over: Pairs): Pairs {
  const firsts = firstValues(over);
  const names: string[] = [];
  const values: string[] = [];
  const placed = new Set<string>();
  for (let i = 0; i < base.names.length; i++) {
    const n = base.names[i];
    const v = firsts.get(n);
    if (v === undefined) {
      names.push(n);
      values.push(base.values[i]);
    } else if (!placed.has(n)) {
      placed.add(n);
      names.push(n);
      values.push(v);
    }
  }
  for (const [n, v] of firsts) {
    if (placed.has(n)) continue;
    names.push(n);
    values.push(v);
  }
  return { names, values };
}
