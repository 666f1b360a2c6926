/**
 * What the collector answers, whichever HTTP layer carries the request (fastify for most routes, node:http
 * directly for the browser hits, see direct.ts): error bodies and statuses, request ids, the client's address
 * through trusted proxies, the host name, and request bodies decoded (gzip/deflate, strict UTF-8). Pure
 * functions of their inputs, apart from counting rejections and logging internal errors.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import zlib from 'node:zlib';
import proxyAddr from '@fastify/proxy-addr';
import type { Config } from '../../src/core/config';
import { BadRequestError, UnavailableError } from '../../src/core/errors';
import type { Logger } from '../../src/core/logger';
import { traceFields } from '../../src/core/logger';
import type { CollectorMetrics } from './metrics';

/** A response: status, headers, and the body (none for 204). */
export interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string | Buffer | null;
}

const JSON_TYPE = 'application/json; charset=utf-8';

export function jsonAnswer(status: number, value: unknown, headers: Record<string, string> = {}): Answer {
  return { status, headers: { 'Content-Type': JSON_TYPE, ...headers }, body: JSON.stringify(value) };
}

function errorBody(code: string, message: string) {
  return { success: false, error: { code, message } };
}

export interface ErrorContext {
  config: Config;
  metrics: CollectorMetrics;
  logger: Logger;
  /** The largest body read at all; beyond it a request is refused before the route sees it. */
  maxBody: number;
}

/**
 * The answer to an error thrown while handling a request: the 4xx a BadRequestError names, 503 with Retry-After
 * when the bus cannot take the events, 413 for a body over the outer cap, the status of any other client error,
 * and 500 (logged with the request id and trace) for anything else.
 */
export function errorAnswer(
  err: Error & { statusCode?: number; code?: string },
  ctx: ErrorContext,
  request: { id: string; headers: IncomingHttpHeaders },
): Answer {
  const { config, metrics } = ctx;
  if (err instanceof BadRequestError) {
    metrics.rejectedRequests.inc({ code: err.code });
    return jsonAnswer(err.status, errorBody(err.code, err.message));
  }
  if (err instanceof UnavailableError) {
    metrics.rejectedRequests.inc({ code: 'unavailable' });
    return jsonAnswer(503, errorBody('unavailable', `${err.message}; retry after ${err.retryAfterSeconds} s`), {
      'Retry-After': String(err.retryAfterSeconds),
    });
  }
  if (err.code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    metrics.rejectedRequests.inc({ code: 'payload_too_large' });
    return jsonAnswer(
      413,
      errorBody(
        'payload_too_large',
        `body exceeds ${ctx.maxBody} bytes; the limits are ${config.limits.eventBytes} bytes per event and ${config.limits.batchBytes} bytes per batch`,
      ),
    );
  }
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500) {
    metrics.rejectedRequests.inc({ code: 'bad_request' });
    return jsonAnswer(err.statusCode, errorBody('bad_request', err.message));
  }
  const trace = request.headers['x-cloud-trace-context'];
  ctx.logger.error(
    {
      err,
      requestId: request.id,
      ...traceFields(typeof trace === 'string' ? trace : undefined, config.bus.projectId),
    },
    'request failed',
  );
  metrics.rejectedRequests.inc({ code: 'internal' });
  return jsonAnswer(500, errorBody('internal', 'internal error; the request was not accepted, retry it'));
}

/** Random per process, so ids stay distinct across instances; a counter makes each request's id. */
const INSTANCE = randomBytes(6).toString('hex');
let requests = 0;

/** The caller's X-Request-Id when it is a plain token, otherwise a new id unique to this request. */
export function requestIdOf(headers: IncomingHttpHeaders): string {
  const given = headers['x-request-id'];
  if (typeof given === 'string' && /^[\w.-]{1,100}$/.test(given)) return given;
  requests = requests < Number.MAX_SAFE_INTEGER ? requests + 1 : 1;
  return `${INSTANCE}-${requests.toString(36)}`;
}

/**
 * Trust exactly `hops` proxies (Cloud Run's front end, a load balancer) when reading X-Forwarded-For: the trust
 * function fastify's `trustProxy` takes, and the one the direct routes read the client's address with.
 */
export function trustHops(hops: number): (address: string, hop: number) => boolean {
  return (_address, hop) => hop < hops;
}

/** The client's address through the trusted proxies, read by fastify's own proxy-addr as `request.ip` is. */
export function clientAddress(
  req: IncomingMessage,
  trust: ((address: string, hop: number) => boolean) | null,
): string | null {
  return (trust ? proxyAddr(req, trust) : req.socket.remoteAddress) ?? null;
}

/**
 * The host the request was sent to, without the port (`[::1]` keeps its brackets). Behind trusted proxies, the
 * last X-Forwarded-Host entry wins, as fastify's `hostname` reads it.
 */
export function hostNameOf(headers: IncomingHttpHeaders, trustProxy: boolean): string | null {
  const forwarded = trustProxy ? headers['x-forwarded-host'] : undefined;
  let host: string | undefined;
  if (typeof forwarded === 'string' && forwarded !== '') {
    const comma = forwarded.lastIndexOf(',');
    host = (comma < 0 ? forwarded : forwarded.slice(comma + 1)).trim();
  } else host = headers.host;
  if (!host) return null;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    return close < 0 ? host : host.slice(0, close + 1);
  }
  const colon = host.indexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)) || null;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Decodes body bytes: gzip/deflate when declared (bounded by `limit` once inflated), then strict UTF-8. */
export function decodeBody(bytes: Buffer | null | undefined, contentEncoding: string | undefined, limit: number) {
  if (!bytes || bytes.length === 0) return '';
  const encoding = (contentEncoding ?? '').toLowerCase();
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
