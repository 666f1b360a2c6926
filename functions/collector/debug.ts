/**
 * The live debug view: GET /debug (page from sdk/debug/), GET /debug/stream (server-sent events of journeys),
 * GET /debug/journeys (the same as JSON), POST /debug/enable and /debug/disable (the preview cookie).
 *
 * Access: with a token configured, a browser must first POST the token to /debug/enable, which sets an
 * HttpOnly `tp_debug` cookie; it then sees only journeys whose requests carried that cookie (its own traffic).
 * Without a token the view is open in local mode (all traffic) and off in gcp mode.
 * The hub has already PII-redacted everything it holds.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PREVIEW_COOKIE, type DebugHub, type HubMessage, type JourneyFilter } from './debug-hub';
import { sdkDir } from './sdk-route';

export interface DebugRoutesOptions {
  hub: DebugHub;
  /** Token that unlocks the view; null/undefined = none configured. */
  token?: string | null;
  mode: 'local' | 'gcp';
  /** Seconds between SSE keep-alive comments (proxies close idle streams, Cloud Run after its timeout). */
  heartbeatSeconds?: number;
}

type Access = { kind: 'open' } | { kind: 'preview'; previewId: string } | { kind: 'locked' } | { kind: 'off' };

/** Preview cookies live as long as the hub remembers them (8 h by default). */
const PREVIEW_MAX_AGE_S = 8 * 3600;

function sameToken(given: string, expected: string): boolean {
  // hash first so the comparison is constant-time whatever the lengths
  const a = crypto.createHash('sha256').update(given).digest();
  const b = crypto.createHash('sha256').update(expected).digest();
  return crypto.timingSafeEqual(a, b);
}

function tokenFrom(req: FastifyRequest): string | null {
  const auth = req.headers.authorization;
  if (auth?.startsWith('Bearer ')) return auth.slice(7).trim();
  // the collector reads every body as bytes (its own parser); a bare fastify app hands over JSON or text
  const raw = req.body as { token?: unknown } | string | Buffer | undefined;
  const body = Buffer.isBuffer(raw) ? raw.toString('utf8') : raw;
  if (body && typeof body === 'object' && typeof body.token === 'string') return body.token;
  if (typeof body === 'string') {
    try {
      const parsed = JSON.parse(body) as { token?: unknown };
      if (typeof parsed.token === 'string') return parsed.token;
    } catch {
      // not JSON: no token
    }
  }
  return null;
}

function previewCookie(value: string, maxAge: number, secure: boolean): string {
  return `${PREVIEW_COOKIE}=${value}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`;
}

let pageCache: string | undefined;
function page(): string {
  pageCache ??= fs.readFileSync(path.join(sdkDir(), 'debug', 'index.html'), 'utf8');
  return pageCache;
}

function queryFilter(req: FastifyRequest): Pick<JourneyFilter, 'anonymousId' | 'event'> {
  const q = req.query as Record<string, string | undefined>;
  return { anonymousId: q.anonymous_id || null, event: q.event || null };
}

export function debugRoutes(app: FastifyInstance, opts: DebugRoutesOptions, done?: (err?: Error) => void): void {
  const { hub, mode } = opts;
  const token = opts.token || null;
  const heartbeatMs = (opts.heartbeatSeconds ?? 15) * 1000;
  hub.setPreviewSecret(token);
  /** Failed token attempts in the current minute: a token is at least 8 characters, this keeps guessing slow. */
  const failures = { windowStart: 0, count: 0 };
  const MAX_FAILURES_PER_MINUTE = 10;

  function access(req: FastifyRequest): Access {
    if (!token) return mode === 'local' ? { kind: 'open' } : { kind: 'off' };
    const previewId = hub.previewAllowed(req.headers.cookie);
    return previewId ? { kind: 'preview', previewId } : { kind: 'locked' };
  }

  /** The journeys filter this browser may see, or null after answering 401/404. */
  function allowed(req: FastifyRequest, reply: FastifyReply): JourneyFilter | null {
    const a = access(req);
    if (a.kind === 'off') {
      void reply.code(404).send({ error: 'debug_off', message: 'the debug view is off: set TAGPIPE_DEBUG_TOKEN' });
      return null;
    }
    if (a.kind === 'locked') {
      void reply.code(401).send({ error: 'debug_locked', message: 'POST the debug token to /debug/enable first' });
      return null;
    }
    return { ...queryFilter(req), previewId: a.kind === 'preview' ? a.previewId : undefined };
  }

  app.get('/debug', async (req, reply) => {
    const a = access(req);
    void reply.header('Cache-Control', 'no-store').header('X-Frame-Options', 'DENY');
    if (a.kind === 'off') {
      return reply
        .code(404)
        .type('text/plain; charset=utf-8')
        .send('The debug view is off in gcp mode unless TAGPIPE_DEBUG_TOKEN is set.\n');
    }
    return reply.type('text/html; charset=utf-8').send(page().replace('{{ACCESS}}', a.kind));
  });

  app.get('/debug/journeys', async (req, reply) => {
    const filter = allowed(req, reply);
    if (!filter) return reply;
    return reply.header('Cache-Control', 'no-store').send({ journeys: hub.recent(filter) });
  });

  app.get('/debug/stream', async (req, reply) => {
    const filter = allowed(req, reply);
    if (!filter) return reply;
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'Content-Type': 'text/event-stream; charset=utf-8',
      'Cache-Control': 'no-store',
      Connection: 'keep-alive',
      // nginx and some proxies buffer responses unless told not to
      'X-Accel-Buffering': 'no',
    });
    const send = (m: HubMessage) => res.write(`event: ${m.type}\ndata: ${JSON.stringify(m)}\n\n`);
    res.write('retry: 2000\n\n');
    for (const journey of hub.recent(filter, 100)) send({ type: 'journey', journey });
    const unsubscribe = hub.subscribe(filter, send);
    const heartbeat = setInterval(() => res.write(': ping\n\n'), heartbeatMs);
    heartbeat.unref();
    const close = () => {
      clearInterval(heartbeat);
      unsubscribe();
    };
    req.raw.on('close', close);
    res.on('error', close);
    return reply;
  });

  app.post('/debug/enable', async (req, reply) => {
    if (!token && mode !== 'local') {
      return reply.code(404).send({ error: 'debug_off', message: 'the debug view is off: set TAGPIPE_DEBUG_TOKEN' });
    }
    if (token) {
      const now = Date.now();
      if (now - failures.windowStart > 60_000) Object.assign(failures, { windowStart: now, count: 0 });
      if (failures.count >= MAX_FAILURES_PER_MINUTE) {
        return reply
          .code(429)
          .header('Retry-After', String(Math.ceil((failures.windowStart + 60_000 - now) / 1000)))
          .send({ error: 'too_many_attempts', message: 'too many wrong tokens; try again in a minute' });
      }
      const given = tokenFrom(req);
      if (!given || !sameToken(given, token)) {
        failures.count++;
        return reply.code(401).send({ error: 'bad_token', message: 'wrong or missing debug token' });
      }
    }
    const id = hub.createPreview();
    return reply
      .header('Set-Cookie', previewCookie(id, PREVIEW_MAX_AGE_S, req.protocol === 'https'))
      .header('Cache-Control', 'no-store')
      .send({ ok: true, scope: token ? 'own traffic' : 'all traffic' });
  });

  app.post('/debug/disable', async (req, reply) => {
    const id = hub.previewAllowed(req.headers.cookie);
    if (id) hub.revokePreview(id);
    return reply.header('Set-Cookie', previewCookie('', 0, req.protocol === 'https')).send({ ok: true });
  });

  done?.();
}
