/**
 * The collector HTTP service: Segment-spec API (/v1/*), GA4 gtag (/g/collect), the no-JS pixel (/p.gif),
 * /healthz and /metrics. Requests are read as raw bytes so every failure (size, encoding, JSON) gets a precise
 * 4xx, and a 2xx is sent only after the bus confirmed the events durable. The browser hits (/g/collect, /p.gif)
 * are served straight from node:http (direct.ts); everything else goes through fastify.
 */
import http from 'node:http';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { EventBus } from '../../src/bus/types';
import type { Config } from '../../src/core/config';
import type { Logger } from '../../src/core/logger';
import { type Answer, type ErrorContext, errorAnswer, hostNameOf, requestIdOf, trustHops } from './answers';
import type { DebugHub } from './debug-hub';
import { registerCors } from './cors';
import { analyticsJsRoutes } from './analytics-js';
import { debugRoutes } from './debug';
import { DirectRoutes } from './direct';
import { CollectorMetrics } from './metrics';
import { CollectorPipeline } from './pipeline';
import { lazyQuery } from './query';
import { sdkRoutes } from './sdk-route';
import { sourceConfigRoutes } from './source-config';
import { type HitRequest, ProtocolRoutes, splitTarget } from './routes';

export interface CollectorOptions {
  config: Config;
  bus: EventBus;
  logger: Logger;
  /** The debug view's hub: with it the collector also serves the debug view (/debug), as configured. */
  hub?: DebugHub;
  /** Registers more routes (the local stack's demo shop and index page) on the same server. */
  extraRoutes?: (app: FastifyInstance) => void | Promise<void>;
}

export interface Collector {
  app: FastifyInstance;
  metrics: CollectorMetrics;
  pipeline: CollectorPipeline;
}

/** Keep-alive longer than Cloud Run's / the LB's idle timeout avoids races on reused connections. */
const KEEP_ALIVE_MS = 650_000;

function sendAnswer(reply: FastifyReply, answer: Answer): FastifyReply {
  return reply
    .code(answer.status)
    .headers(answer.headers)
    .send(answer.body ?? undefined);
}

export async function createCollector(options: CollectorOptions): Promise<Collector> {
  const { config, bus, logger } = options;
  const metrics = new CollectorMetrics();
  const pipeline = new CollectorPipeline({ config, bus, logger, metrics, hub: options.hub });
  const routes = new ProtocolRoutes({ config, pipeline, metrics, logger });
  // The per-route limits (32 KB per event, 500 KB per batch, GA4 bodies) are checked in the handlers, with
  // messages that say which limit; this outer cap only stops absurd bodies from being buffered at all.
  const maxBody = 2 * Math.max(config.limits.batchBytes, config.limits.ga4BodyBytes, config.limits.eventBytes);
  const errors: ErrorContext = { config, metrics, logger, maxBody };
  const trustedHops = config.server.trustProxyHops;
  const direct = new DirectRoutes({ routes, errors, cors: { origins: config.cors.origins }, trustedHops });
  const app = Fastify({
    logger: false,
    bodyLimit: maxBody,
    // Trust exactly N proxy hops (Cloud Run's front end, the load balancer) when reading X-Forwarded-For.
    trustProxy: trustedHops > 0 ? trustHops(trustedHops) : false,
    genReqId: (req) => requestIdOf(req.headers),
    return503OnClosing: true,
    // The protocol routes parse their own query strings; `request.query` is parsed only where it is read.
    routerOptions: { querystringParser: lazyQuery },
    // fastify sets these only on a server it creates itself.
    serverFactory: (handler) => {
      const server = http.createServer((req, res) => {
        if (!direct.handle(req, res)) handler(req, res);
      });
      server.keepAliveTimeout = KEEP_ALIVE_MS;
      server.requestTimeout = 0;
      return server;
    },
  });
  // Requests arriving from here on get 503 on the direct routes too, as fastify answers on its own.
  app.addHook('preClose', (done) => {
    direct.close();
    done();
  });

  // Bodies are read as bytes, whatever the declared type: analytics.js posts JSON as text/plain to avoid a
  // CORS preflight, and size/encoding errors must be ours to word.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  registerCors(app, { origins: config.cors.origins });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, req, reply) =>
    sendAnswer(reply, errorAnswer(err, errors, { id: String(req.id), headers: req.headers })),
  );

  /** A Segment-API request as the protocol routes take it. */
  const hitOf = (req: FastifyRequest): HitRequest => ({
    id: String(req.id),
    method: req.method,
    ...splitTarget(req.url),
    headers: req.headers,
    ip: req.ip ?? null,
    host: hostNameOf(req.headers, trustedHops > 0),
    body: (req.body as Buffer | undefined) ?? null,
  });
  app.post('/v1/:call', async (req: FastifyRequest<{ Params: { call: string } }>, reply) =>
    sendAnswer(reply, await routes.segment(req.params.call, hitOf(req))),
  );
  // RudderStack's sendBeacon transport; the configuration RudderStack's SDK and analytics.js load first.
  app.post('/beacon/v1/batch', async (req, reply) => sendAnswer(reply, await routes.segment('batch', hitOf(req))));
  sourceConfigRoutes(app, { writeKeys: config.auth.writeKeys });
  analyticsJsRoutes(app, { writeKeys: config.auth.writeKeys });

  app.get('/healthz', async (_req, reply) => {
    // Liveness: the process answers. A bus outage shows as "degraded" (events are spooled), not as a failure,
    // since restarting the instance would not bring Pub/Sub back.
    const health = bus.health();
    return reply.send({ status: health.ok ? 'ok' : 'degraded', bus: bus.kind, ...health });
  });

  app.get('/metrics', async (_req, reply) => {
    return reply.header('Content-Type', metrics.registry.contentType).send(await metrics.text());
  });

  // The browser SDK, served from the site's own collector domain; the debug view (off unless a token is configured
  // or the stack runs locally) when there is a hub to feed it.
  sdkRoutes(app, {});
  if (options.hub) debugRoutes(app, { hub: options.hub, token: config.debug.token ?? null, mode: config.mode });
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
