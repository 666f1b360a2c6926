/**
 * `request.query` parsed on first use. The protocol routes read their query strings themselves (URLSearchParams,
 * which keeps GA4's repeated keys and order), so fastify parsing every query string again for `request.query`
 * was pure cost on the hottest route (~3% of a GA4 hit's CPU time). Routes that do read `request.query` (the
 * debug view) see what fastify's own parser gives (same keys, arrays for repeated keys, null prototype).
 */
import querystring from 'node:querystring';

type Query = Record<string, string | string[] | undefined>;

/** For Fastify's `routerOptions.querystringParser`: an object that parses `text` when first looked at. */
export function lazyQuery(text: string): Query {
  if (text.length === 0) return {};
  let parsed: Query | undefined;
  const real = (): Query => (parsed ??= querystring.parse(text));
  return new Proxy(Object.create(null) as Query, {
    get: (_t, key) => Reflect.get(real(), key),
    set: (_t, key, value) => Reflect.set(real(), key, value),
    has: (_t, key) => Reflect.has(real(), key),
    deleteProperty: (_t, key) => Reflect.deleteProperty(real(), key),
    ownKeys: () => Reflect.ownKeys(real()),
    getOwnPropertyDescriptor: (_t, key) => {
      const d = Reflect.getOwnPropertyDescriptor(real(), key);
      // A proxy may only report a property its (empty) target lacks as configurable.
      return d && { ...d, configurable: true };
    },
    defineProperty: (_t, key, d) => Reflect.defineProperty(real(), key, d),
  });
}
