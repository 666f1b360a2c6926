/**
 * The collector's one Cookie header reader (RFC 6265 section 5.4 as browsers send it): `name=value` pairs split on
 * `;`, names and values trimmed, surrounding double quotes dropped, values percent-decoded when it decodes; the first
 * occurrence of a name wins (browsers list the most specific path first). Used for the first-party id, the Meta and
 * Google click cookies, and the debug view's preview cookie.
 */

/** Cookies by name, as a prototype-free object (a cookie named `__proto__` is just a name). */
export function parseCookies(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = Object.create(null) as Record<string, string>;
  if (!header) return out;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 1) continue;
    const name = part.slice(0, eq).trim();
    if (!name || name in out) continue;
    const raw = part.slice(eq + 1).trim();
    let unquoted = raw;
    if (unquoted.startsWith('"')) unquoted = unquoted.slice(1);
    if (unquoted.endsWith('"')) unquoted = unquoted.slice(0, -1);
    if (!unquoted.includes('%')) {
      out[name] = unquoted;
      continue;
    }
    try {
      out[name] = decodeURIComponent(unquoted);
    } catch {
      out[name] = raw;
    }
  }
  return out;
}

/** Value of one cookie in a Cookie header, read as parseCookies reads it; null when absent or empty. */
export function cookieValue(header: string | undefined, name: string): string | null {
  return parseCookies(header)[name] || null;
}
