/**
 * The collector HTTP service: Segment-spec API (/v1/*), GA4 gtag (/g/collect), the no-JS pixel (/p.gif),
 * /healthz and /metrics. Requests are read as raw bytes so every failure (size, encoding, JSON) gets a precise
 * 4xx, and a 2xx is sent only after the bus confirmed the events durable.
 */
import { randomUUID } from 'node:crypto';
import zlib from 'node:zlib';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { EventBus } from '../../src/bus/types';
import type { Config } from '../../src/core/config';
import { BadRequestError, UnavailableError } from '../../src/core/errors';
import type { ParsedEvent, Protocol } from '../../src/core/event';
import type { Logger } from '../../src/core/logger';
import { traceFields } from '../../src/core/logger';
import type { DebugHub } from './debug-hub';
import { parseCookies } from './cookies';
import { registerCors } from './cors';
import { buildIdCookie } from './identity';
import { CollectorMetrics } from './metrics';
import { CollectorPipeline, type HitContext, type PipelineResult } from './pipeline';
import { parseGa4 } from './protocols/ga4';
import { TRANSPARENT_GIF, parsePixel } from './protocols/pixel';
import { lazyQuery } from './query';
import { type SegmentCall, parseSegment } from './protocols/segment';

export interface CollectorOptions {
  config: Config;
  bus: EventBus;
  logger: Logger;
  hub?: DebugHub;
  /** Registers more routes (SDK, demo, debug view) on the same server. */
  extraRoutes?: (app: FastifyInstance) => void | Promise<void>;
}

export interface Collector {
  app: FastifyInstance;
  metrics: CollectorMetrics;
  pipeline: CollectorPipeline;
}

/** analytics.js sends single letters (/v1/t), server libraries full names (/v1/track). */
const SEGMENT_PATHS: Record<string, SegmentCall> = {
  track: 'track',
  t: 'track',
  identify: 'identify',
  i: 'identify',
  page: 'page',
  p: 'page',
  screen: 'screen',
  s: 'screen',
  group: 'group',
  g: 'group',
  alias: 'alias',
  a: 'alias',
  batch: 'batch',
  b: 'batch',
  import: 'batch',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

function errorBody(code: string, message: string) {
  return { success: false, error: { code, message } };
}

/** Decodes the body bytes: gzip/deflate when declared (bounded), then strict UTF-8. */
function decodeBody(req: FastifyRequest, limit: number): string {
  let bytes = req.body as Buffer | undefined;
  if (!bytes || bytes.length === 0) return '';
  const encoding = String(req.headers['content-encoding'] ?? '').toLowerCase();
  if (encoding === 'gzip' || encoding === 'deflate') {
    try {
      bytes =
        encoding === 'gzip'
          ? zlib.gunzipSync(bytes, { maxOutputLength: limit })
          : zlib.inflateSync(bytes, { maxOutputLength: limit });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
        throw new BadRequestError(`decompressed body exceeds ${limit} bytes`, 413, 'payload_too_large');
      }
      throw new BadRequestError(`body is not valid ${encoding} data`, 400, 'bad_encoding');
    }
  } else if (encoding && encoding !== 'identity') {
    throw new BadRequestError(`unsupported Content-Encoding "${encoding}" (use gzip or none)`, 415, 'bad_encoding');
  }
  try {
    return utf8.decode(bytes);
  } catch {
    throw new BadRequestError('body is not valid UTF-8', 400, 'invalid_utf8');
  }
}

function parseJson(text: string): unknown {
  if (!text.trim()) throw new BadRequestError('body is empty: expected a JSON object', 400, 'empty_body');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BadRequestError(`body is not valid JSON: ${(err as Error).message}`, 400, 'invalid_json');
  }
}

function basicAuthUser(header: string | undefined): string | null {
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(0, colon) : decoded;
}

export async function createCollector(options: CollectorOptions): Promise<Collector> {
  const { config, bus, logger } = options;
  const metrics = new CollectorMetrics();
  const pipeline = new CollectorPipeline({ config, bus, logger, metrics, hub: options.hub });
  // The per-route limits (32 KB per event, 500 KB per batch, GA4 bodies) are checked in the handlers, with
  // messages that say which limit; this outer cap only stops absurd bodies from being buffered at all.
  const maxBody = 2 * Math.max(config.limits.batchBytes, config.limits.ga4BodyBytes, config.limits.eventBytes);
  const app = Fastify({
    logger: false,
    bodyLimit: maxBody,
    // Trust exactly N proxy hops (Cloud Run's front end, the load balancer) when reading X-Forwarded-For.
    trustProxy:
      config.server.trustProxyHops > 0 ? (_addr: string, hop: number) => hop < config.server.trustProxyHops : false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w.-]{1,100}$/.test(given) ? given : randomUUID();
    },
    // Keep-alive longer than Cloud Run's / the LB's idle timeout avoids races on reused connections.
    keepAliveTimeout: 650_000,
    return503OnClosing: true,
    // The protocol routes parse their own query strings; `request.query` is parsed only where it is read.
    routerOptions: { querystringParser: lazyQuery },
  });

  // Bodies are read as bytes, whatever the declared type: analytics.js posts JSON as text/plain to avoid a
  // CORS preflight, gtag posts text/plain lines, and size/encoding errors must be ours to word.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  registerCors(app, { origins: config.cors.origins });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) => {
    if (err instanceof BadRequestError) {
      metrics.rejectedRequests.inc({ code: err.code });
      return reply.code(err.status).send(errorBody(err.code, err.message));
    }
    if (err instanceof UnavailableError) {
      metrics.rejectedRequests.inc({ code: 'unavailable' });
      return reply
        .code(503)
        .header('Retry-After', String(err.retryAfterSeconds))
        .send(errorBody('unavailable', `${err.message}; retry after ${err.retryAfterSeconds} s`));
    }
    if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      metrics.rejectedRequests.inc({ code: 'payload_too_large' });
      return reply
        .code(413)
        .send(
          errorBody(
            'payload_too_large',
            `body exceeds ${maxBody} bytes; the limits are ${config.limits.eventBytes} bytes per event and ${config.limits.batchBytes} bytes per batch`,
          ),
        );
    }
    if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
      metrics.rejectedRequests.inc({ code: 'bad_request' });
      return reply.code(err.statusCode).send(errorBody('bad_request', err.message));
    }
    logger.error(
      {
        err,
        requestId: req.id,
        ...traceFields(req.headers['x-cloud-trace-context'] as string | undefined, config.bus.projectId),
      },
      'request failed',
    );
    metrics.rejectedRequests.inc({ code: 'internal' });
    return reply.code(500).send(errorBody('internal', 'internal error; the request was not accepted, retry it'));
  });

  function hitContext(req: FastifyRequest, rawBody: string | null): HitContext {
    const cookies = parseCookies(req.headers.cookie);
    return {
      requestId: String(req.id),
      receivedAt: new Date(),
      ip: req.ip ?? null,
      userAgent: (req.headers['user-agent'] as string | undefined) ?? null,
      headers: req.headers,
      cookies,
      host: (req.hostname || '').split(':')[0] || null,
      gpc: req.headers['sec-gpc'] === '1',
      previewId: cookies.tp_debug ?? null,
      method: req.method,
      path: req.url.split('?')[0],
      rawBody,
    };
  }

  function applyCookie(reply: FastifyReply, result: PipelineResult): void {
    if (!result.cookie) return;
    const opts = {
      name: config.cookie.name,
      domain: config.cookie.domain ?? null,
      maxAgeDays: config.cookie.maxAgeDays,
      secure: config.cookie.secure,
    };
    reply.header(
      'Set-Cookie',
      result.cookie === 'delete'
        ? buildIdCookie('', { ...opts, maxAgeDays: 0 })
        : buildIdCookie(result.cookie.value, opts),
    );
  }

  /** Shared tail of every protocol route: prepare, publish durably, then answer. */
  async function accept(
    req: FastifyRequest,
    reply: FastifyReply,
    parsed: ParsedEvent[],
    protocol: Protocol,
    sourceId: string,
    rawBody: string | null,
  ): Promise<PipelineResult> {
    const hit = hitContext(req, rawBody);
    metrics.received.inc({ protocol }, parsed.length);
    const result = pipeline.prepare(parsed, hit, protocol, sourceId);
    try {
      await pipeline.publish(result, hit);
    } catch (err) {
      pipeline.record(result, hit, [], (err as Error).message, err instanceof UnavailableError ? 503 : 500);
      if (err instanceof UnavailableError) throw err;
      logger.error({ err, requestId: hit.requestId }, 'publish failed');
      throw new UnavailableError('the event bus did not confirm the events', 5);
    }
    applyCookie(reply, result);
    return result;
  }

  const segmentHandler = async (req: FastifyRequest<{ Params: { call: string } }>, reply: FastifyReply) => {
    const call = SEGMENT_PATHS[req.params.call];
    if (!call) {
      throw new BadRequestError(
        `unknown Segment call "/v1/${req.params.call}": use track, identify, page, screen, group, alias or batch`,
        404,
        'not_found',
      );
    }
    const limit = call === 'batch' ? config.limits.batchBytes : config.limits.eventBytes;
    const size = (req.body as Buffer | undefined)?.length ?? 0;
    if (size > limit) {
      throw new BadRequestError(
        call === 'batch'
          ? `batch body is ${size} bytes; the limit is ${limit} bytes (500 KB): split it into smaller batches`
          : `event body is ${size} bytes; the limit is ${limit} bytes (32 KB) per event`,
        413,
        'payload_too_large',
      );
    }
    const text = decodeBody(req, limit);
    const body = parseJson(text);
    const { writeKey, events } = parseSegment({
      call,
      body,
      basicAuthUser: basicAuthUser(req.headers.authorization),
      receivedAt: new Date(),
      limits: { eventBytes: config.limits.eventBytes },
    });
    if (!writeKey) {
      throw new BadRequestError(
        'missing write key: send it as the Basic auth user or as "writeKey" in the body',
        401,
        'unauthorized',
      );
    }
    if (!config.auth.writeKeys.includes(writeKey)) {
      throw new BadRequestError('unknown write key', 401, 'unauthorized');
    }
    const result = await accept(req, reply, events, 'segment', writeKey, text);
    const rejected = result.quarantined.length;
    if (call !== 'batch' && rejected > 0) {
      // A single call that broke the contract: it is kept in events-invalid, and the client is told why.
      return reply.code(400).send({
        success: false,
        error: { code: 'invalid_event', message: result.quarantined[0].reason },
        quarantined: 1,
      });
    }
    return reply.send({
      success: true,
      accepted: result.accepted.length,
      quarantined: rejected,
      ...(rejected
        ? { errors: result.quarantined.slice(0, 20).map((r) => ({ event_id: r.event_id ?? null, reason: r.reason })) }
        : {}),
    });
  };
  app.post('/v1/:call', segmentHandler);

  const ga4Handler = async (req: FastifyRequest, reply: FastifyReply) => {
    const size = (req.body as Buffer | undefined)?.length ?? 0;
    if (size > config.limits.ga4BodyBytes) {
      throw new BadRequestError(
        `GA4 body is ${size} bytes; the limit is ${config.limits.ga4BodyBytes}`,
        413,
        'payload_too_large',
      );
    }
    const text = req.method === 'POST' ? decodeBody(req, config.limits.ga4BodyBytes) : null;
    const parsed = parseGa4({
      method: req.method === 'POST' ? 'POST' : 'GET',
      query: req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '',
      body: text,
      receivedAt: new Date(),
    });
    const allowed = config.auth.ga4MeasurementIds;
    if (allowed.length > 0 && !allowed.includes(parsed.measurementId)) {
      throw new BadRequestError(
        `measurement id ${parsed.measurementId} is not configured on this collector`,
        403,
        'forbidden',
      );
    }
    await accept(req, reply, parsed.events, 'ga4', parsed.measurementId, text);
    // Google's endpoint answers 204 with no body; gtag reads nothing from the response.
    return reply.code(204).header('Cache-Control', 'no-store').send();
  };
  app.get('/g/collect', ga4Handler);
  app.post('/g/collect', ga4Handler);

  app.get('/p.gif', async (req, reply) => {
    const query = new URLSearchParams(req.url.includes('?') ? req.url.slice(req.url.indexOf('?') + 1) : '');
    const events = parsePixel(query, new Date());
    await accept(req, reply, events, 'pixel', query.get('src') ?? 'pixel', null);
    return reply
      .header('Content-Type', 'image/gif')
      .header('Cache-Control', 'no-store, no-cache, must-revalidate, max-age=0')
      .send(TRANSPARENT_GIF);
  });

  app.get('/healthz', async (_req, reply) => {
    // Liveness: the process answers. A bus outage shows as "degraded" (events are spooled), not as a failure,
    // since restarting the instance would not bring Pub/Sub back.
    const health = bus.health();
    return reply.send({ status: health.ok ? 'ok' : 'degraded', bus: bus.kind, ...health });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.header('Content-Type', metrics.registry.contentType).send(await metrics.text());
  });

  if (options.extraRoutes) await options.extraRoutes(app);
  return { app, metrics, pipeline };
}

/**
 * SIGTERM/SIGINT: stop accepting, let in-flight requests finish, flush the bus, exit within the grace period
 * (Cloud Run sends SIGKILL ~10 s after SIGTERM).
 */
export function installShutdown(
  close: () => Promise<void>,
  logger: Logger,
  graceSeconds: number,
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  let closing = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down: draining requests and flushing the bus');
    const timer = setTimeout(() => {
      logger.error({ graceSeconds }, 'shutdown took too long; exiting');
      exit(1);
    }, graceSeconds * 1000);
    timer.unref();
    close().then(
      () => {
        logger.info('shutdown complete');
        exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, 'shutdown failed');
        exit(1);
      },
    );
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
}
