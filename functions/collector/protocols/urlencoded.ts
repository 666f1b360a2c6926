/**
 * `application/x-www-form-urlencoded` text (a query string, a line of a GA4 POST body) read exactly as
 * `new URLSearchParams(text)` reads it (the WHATWG URL standard's parser, as Node implements it: `+` is a space,
 * percent escapes are decoded as UTF-8 with U+FFFD for bad bytes, malformed escapes stay as they are), into two
 * parallel arrays of names and values instead of an object whose every `get` scans the whole list. One pass
 * over the text, and text with nothing escaped is sliced, never copied. `urlencoded.test.ts` compares both on
 * arbitrary text.
 */
import querystring from 'node:querystring';

export interface Pairs {
  /** Names and values in the order they appear; `names[i]` goes with `values[i]`. */
  readonly names: string[];
  readonly values: string[];
}

/** Hex digits: the characters that make `%XX` an escape worth decoding. */
function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 70) || (c >= 97 && c <= 102);
}

/** Parses urlencoded text (a leading `?` is skipped, as URLSearchParams skips it). */
export function parsePairs(input: string): Pairs {
  // URLSearchParams takes a USVString: lone surrogates become U+FFFD before parsing.
  const text = input.isWellFormed() ? input : input.toWellFormed();
  const names: string[] = [];
  const values: string[] = [];
  let i = text.charCodeAt(0) === 63 ? 1 : 0;
  let pairStart = i;
  let lastPos = i;
  let buf = '';
  let seenSep = false;
  let encoded = false;
  let encodeCheck = 0;
  let name = '';
  /** The text read since the last separator, decoded when it holds an escape; the reading state starts over. */
  const takePart = (end: number): string => {
    if (lastPos < end) buf += text.slice(lastPos, end);
    const part = encoded ? querystring.unescape(buf) : buf;
    buf = '';
    encoded = false;
    encodeCheck = 0;
    return part;
  };
  /** Ends the pair at `end`: a part read before any `=` is a name with an empty value. */
  const endPair = (end: number): void => {
    const part = takePart(end);
    names.push(seenSep ? name : part);
    values.push(seenSep ? part : '');
    seenSep = false;
  };
  for (; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code === 38 /* & */) {
      // Empty text between two separators is no pair.
      if (pairStart !== i) endPair(i);
      lastPos = pairStart = i + 1;
      continue;
    }
    if (!seenSep && code === 61 /* = */) {
      name = takePart(i);
      seenSep = true;
      lastPos = i + 1;
      continue;
    }
    if (code === 43 /* + */) {
      if (lastPos < i) buf += text.slice(lastPos, i);
      buf += ' ';
      lastPos = i + 1;
    } else if (!encoded) {
      // Decode only when a well-formed %XX is present (the rest of the part may still hold malformed ones).
      if (code === 37 /* % */) encodeCheck = 1;
      else if (encodeCheck > 0) {
        if (isHex(code)) {
          if (++encodeCheck === 3) encoded = true;
        } else encodeCheck = 0;
      }
    }
  }
  if (pairStart !== i) endPair(i);
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
