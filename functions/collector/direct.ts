/**
 * The browser hits served straight from node:http, ahead of fastify: GA4 `/g/collect` (GET and POST) and the
 * pixel `/p.gif` (GET, and HEAD answered with the image's headers without recording anything). A hit is a few
 * hundred bytes carrying one event, so a framework's per-request machinery (router, hooks, request and reply
 * objects, serializers) costs as much as the event's own work; here the request goes from the socket to the
 * protocol route with nothing in between. What a client sees is what fastify answered: the same CORS headers
 * (cors.ts), request ids, client address through trusted proxy hops, error bodies (answers.ts), and 503 with
 * `Connection: close` once the server is closing. Any other path or method (OPTIONS preflights, HEAD on
 * /g/collect) goes on to fastify.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type Answer,
  type ErrorContext,
  clientAddress,
  errorAnswer,
  hostNameOf,
  requestIdOf,
  trustHops,
} from './answers';
import { type CorsOptions, addCorsHeaders, originCheck } from './cors';
import { type HitRequest, type ProtocolRoutes, ga4BodyTooLarge, splitTarget } from './routes';

export interface DirectOptions {
  routes: ProtocolRoutes;
  errors: ErrorContext;
  cors: CorsOptions;
  /** Proxies in front of the collector whose X-Forwarded-For / X-Forwarded-Host entries are trusted. */
  trustedHops: number;
}

type Route = 'ga4' | 'pixel';

/** What fastify answers a request that arrives while it closes (`return503OnClosing`). */
const CLOSING_BODY = '{"error":"Service Unavailable","message":"Service Unavailable","statusCode":503}';

export class DirectRoutes {
  private closing = false;
  private readonly allows: ReturnType<typeof originCheck>;
  private readonly trust: ReturnType<typeof trustHops> | null;

  constructor(private readonly options: DirectOptions) {
    this.allows = originCheck(options.cors);
    this.trust = options.trustedHops > 0 ? trustHops(options.trustedHops) : null;
  }

  /** From now on, answer 503 and close the connection (the server is draining). */
  close(): void {
    this.closing = true;
  }

  /** Serves the request when it is one of the direct routes; false leaves it to fastify. */
  handle(req: IncomingMessage, res: ServerResponse): boolean {
    const { path, query } = splitTarget(req.url ?? '');
    const method = req.method;
    let route: Route;
    if (path === '/g/collect' && (method === 'GET' || method === 'POST')) route = 'ga4';
    else if (path === '/p.gif' && (method === 'GET' || method === 'HEAD')) route = 'pixel';
    else return false;

    if (this.closing) {
      res.writeHead(503, { 'Content-Type': 'application/json', 'Content-Length': '80', Connection: 'close' });
      res.end(CLOSING_BODY);
      return true;
    }
    const hit: HitRequest = {
      id: requestIdOf(req.headers),
      method: method,
      path,
      query,
      headers: req.headers,
      ip: clientAddress(req, this.trust),
      host: hostNameOf(req.headers, this.options.trustedHops > 0),
      body: null,
    };
    if (method !== 'POST') {
      void this.run(route, hit, res);
      return true;
    }
    this.readBody(req, res, hit, route);
    return true;
  }

  /** Reads a POST body up to the GA4 limit; a longer one is refused without reading the rest. */
  private readBody(req: IncomingMessage, res: ServerResponse, hit: HitRequest, route: Route): void {
    const limit = this.options.errors.config.limits.ga4BodyBytes;
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      this.refuse(req, res, hit, ga4BodyTooLarge(String(declared), limit));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) {
        chunks.push(chunk);
        return;
      }
      req.off('data', onData);
      req.off('end', onEnd);
      this.refuse(req, res, hit, ga4BodyTooLarge(`over ${limit}`, limit));
    };
    const onEnd = () => {
      hit.body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      void this.run(route, hit, res);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    // A client that goes away mid-body gets no answer; nothing of it was accepted.
    req.on('error', () => req.destroy());
  }

  /** Answers an error before the body was read, and closes the connection (the unread rest cannot be skipped). */
  private refuse(req: IncomingMessage, res: ServerResponse, hit: HitRequest, err: Error): void {
    const answer = errorAnswer(err, this.options.errors, hit);
    answer.headers.Connection = 'close';
    this.send(hit, res, answer);
    req.resume();
  }

  private async run(route: Route, hit: HitRequest, res: ServerResponse): Promise<void> {
    let answer: Answer;
    try {
      answer = route === 'ga4' ? await this.options.routes.ga4(hit) : await this.options.routes.pixel(hit);
    } catch (err) {
      answer = errorAnswer(err as Error, this.options.errors, hit);
    }
    this.send(hit, res, answer);
  }

  private send(hit: HitRequest, res: ServerResponse, answer: Answer): void {
    addCorsHeaders(answer.headers, hit.headers.origin, this.allows);
    try {
      res.writeHead(answer.status, answer.headers);
      res.end(answer.body ?? undefined);
    } catch (err) {
      // An answer node refuses to write (a header it finds invalid): the request fails alone, the process stays up.
      this.options.errors.logger.error({ err, requestId: hit.id }, 'could not write the answer');
      res.destroy();
    }
  }
}
