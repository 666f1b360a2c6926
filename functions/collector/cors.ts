/**
 * CORS for the collector, answering exactly as @fastify/cors did with the collector's options (a function origin
 * allowing the configured list or `*`, credentials, GET/POST/OPTIONS, the request headers a preflight asks for, max-age one day,
 * strict preflight), in one onRequest hook with nothing allocated per request. The plugin spread its options into
 * a new object and made a closure for every request, including the server-to-server ones that send no Origin;
 * `cors.test.ts` compares both answer for answer.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';

export interface CorsOptions {
  /** Allowed browser origins; `*` allows any (the origin is reflected, as credentials require). */
  origins: readonly string[];
}

const METHODS = 'GET, POST, OPTIONS';
const MAX_AGE = String(86400);

/** Requests that passed the preflight check; the OPTIONS route answers 404 for any other OPTIONS request. */
const preflights = new WeakSet<FastifyRequest>();

/** Whether a browser origin may read the collector's answers (with credentials). */
export function originCheck(options: CorsOptions): (origin: string | undefined) => origin is string {
  const anyOrigin = options.origins.includes('*');
  const allowed = new Set(options.origins);
  return (origin): origin is string => !!origin && (anyOrigin || allowed.has(origin));
}

/**
 * The CORS headers of an answer to a GET or POST (not a preflight), added to `headers`: what the onRequest hook
 * sets for fastify's routes, for the routes served straight from node:http.
 */
export function addCorsHeaders(
  headers: Record<string, string>,
  origin: string | undefined,
  allows: (origin: string | undefined) => origin is string,
): void {
  headers.Vary = 'Origin';
  if (!allows(origin)) return;
  headers['Access-Control-Allow-Origin'] = origin;
  headers['Access-Control-Allow-Credentials'] = 'true';
}

export function registerCors(app: FastifyInstance, options: CorsOptions): void {
  const allows = originCheck(options);

  app.addHook('onRequest', (req: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
    // The answer depends on Origin, so caches must key on it (Fetch standard, CORS protocol and HTTP caches).
    reply.header('Vary', 'Origin');
    const origin = req.headers.origin;
    if (!allows(origin)) {
      done();
      return;
    }
    reply.header('Access-Control-Allow-Origin', origin);
    reply.header('Access-Control-Allow-Credentials', 'true');
    if (req.raw.method !== 'OPTIONS') {
      done();
      return;
    }
    if (!req.headers['access-control-request-method']) {
      void reply.code(400).type('text/plain').send('Invalid Preflight Request');
      return;
    }
    preflights.add(req);
    reply.header('Access-Control-Allow-Methods', METHODS);
    // Whatever headers the page asks to send: the origin list is the boundary, and clients add their own
    // (RudderStack's SDK sends AnonymousId, SentAt and Rsa-* retry headers with every event).
    reply.header('Vary', 'Origin, Access-Control-Request-Headers');
    const requested = req.headers['access-control-request-headers'];
    if (requested !== undefined) reply.header('Access-Control-Allow-Headers', requested);
    reply.header('Access-Control-Max-Age', MAX_AGE);
    // Safari waits for a body on a 204 without Content-Length: 0.
    void reply.code(204).header('Content-Length', '0').send();
  });

  app.options('*', (req, reply) => {
    if (!preflights.has(req)) {
      reply.callNotFound();
      return;
    }
    void reply.send();
  });
}
