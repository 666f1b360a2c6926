/**
 * The protocol routes as plain functions of a request, whichever HTTP layer carries it: the Segment-spec API
 * (/v1/*, through fastify) and the browser hits, GA4 /g/collect and the pixel /p.gif (straight from node:http,
 * see direct.ts). Each parses, runs the pipeline, waits until the bus confirmed the events durable, and returns
 * the answer; errors are thrown (answers.ts words them).
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { Config } from '../../src/core/config';
import { BadRequestError, UnavailableError } from '../../src/core/errors';
import type { ParsedEvent, Protocol } from '../../src/core/event';
import type { Logger } from '../../src/core/logger';
import { type Answer, decodeBody, jsonAnswer } from './answers';
import { parseCookies } from './cookies';
import { idCookies } from './identity';
import type { CollectorMetrics } from './metrics';
import type { CollectorPipeline, HitContext, PipelineResult } from './pipeline';
import { parseGa4 } from './protocols/ga4';
import { TRANSPARENT_GIF, parsePixel } from './protocols/pixel';
import { type SegmentCall, parseSegment } from './protocols/segment';

/** One request as the routes need it. */
export interface HitRequest {
  id: string;
  method: string;
  /** The request target's path, and its query string as received (without the `?`). */
  path: string;
  query: string;
  headers: IncomingHttpHeaders;
  /** The client's address through the trusted proxies. */
  ip: string | null;
  /** The host the request was sent to, without the port. */
  host: string | null;
  /** The body bytes (null for GET). */
  body: Buffer | null;
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

const PIXEL_HEADERS = {
  'Content-Type': 'image/gif',
  'Cache-Control': 'no-store, no-cache, must-revalidate, max-age=0',
};

function parseJson(text: string): unknown {
  if (!text.trim()) throw new BadRequestError('body is empty: expected a JSON object', 400, 'empty_body');
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new BadRequestError(`body is not valid JSON: ${(err as Error).message}`, 400, 'invalid_json');
  }
}

/** The user of a Basic Authorization header (a Segment or RudderStack write key), or null. */
function basicAuthUser(header: string | undefined): string | null {
  if (!header || !/^basic /i.test(header)) return null;
  const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 ? decoded.slice(0, colon) : decoded;
}

/**
 * The write key a request names outside its body: the Basic auth user, else `?writeKey=` (sendBeacon cannot set
 * an Authorization header; RudderStack's SDK adds it to its source-config request). Null when neither is there.
 */
export function requestWriteKey(headers: IncomingHttpHeaders, query: string): string | null {
  return basicAuthUser(headers.authorization) || (query ? new URLSearchParams(query).get('writeKey') || null : null);
}

/** A request target split into its path and its query string (without the `?`). */
export function splitTarget(url: string): { path: string; query: string } {
  const q = url.indexOf('?');
  return q < 0 ? { path: url, query: '' } : { path: url.slice(0, q), query: url.slice(q + 1) };
}

/** The 413 for a GA4 body over the limit; `size` is its length, or "over N" when it was not read to the end. */
export function ga4BodyTooLarge(size: string, limit: number): BadRequestError {
  return new BadRequestError(`GA4 body is ${size} bytes; the limit is ${limit}`, 413, 'payload_too_large');
}

export interface RoutesDeps {
  config: Config;
  pipeline: CollectorPipeline;
  metrics: CollectorMetrics;
  logger: Logger;
}

export class ProtocolRoutes {
  /** The id cookie's configuration is fixed per collector. */
  private readonly cookies: ReturnType<typeof idCookies>;

  constructor(private readonly deps: RoutesDeps) {
    const { cookie } = deps.config;
    this.cookies = idCookies({
      name: cookie.name,
      domain: cookie.domain ?? null,
      maxAgeDays: cookie.maxAgeDays,
      secure: cookie.secure,
    });
  }

  /** POST /v1/{call}: a Segment-spec call or batch. */
  async segment(callName: string, req: HitRequest): Promise<Answer> {
    const { config } = this.deps;
    const call = SEGMENT_PATHS[callName];
    if (!call) {
      throw new BadRequestError(
        `unknown Segment call "/v1/${callName}": use track, identify, page, screen, group, alias or batch`,
        404,
        'not_found',
      );
    }
    const limit = call === 'batch' ? config.limits.batchBytes : config.limits.eventBytes;
    const size = req.body?.length ?? 0;
    if (size > limit) {
      throw new BadRequestError(
        call === 'batch'
          ? `batch body is ${size} bytes; the limit is ${limit} bytes (500 KB): split it into smaller batches`
          : `event body is ${size} bytes; the limit is ${limit} bytes (32 KB) per event`,
        413,
        'payload_too_large',
      );
    }
    const text = decodeBody(req.body, req.headers['content-encoding'], limit);
    const body = parseJson(text);
    const receivedAt = new Date();
    const { writeKey, events } = parseSegment({
      call,
      body,
      // RudderStack's SDK sends its beacon batches to /beacon/v1/batch with the write key in the query string.
      basicAuthUser: requestWriteKey(req.headers, req.query),
      receivedAt,
      limits: { eventBytes: config.limits.eventBytes },
    });
    if (!writeKey) {
      throw new BadRequestError(
        'missing write key: send it as the Basic auth user, as "writeKey" in the body or as ?writeKey=',
        401,
        'unauthorized',
      );
    }
    if (!config.auth.writeKeys.includes(writeKey)) {
      throw new BadRequestError('unknown write key', 401, 'unauthorized');
    }
    const { result, headers } = await this.accept(req, receivedAt, events, 'segment', writeKey, text);
    const rejected = result.quarantined.length;
    if (call !== 'batch' && rejected > 0) {
      // A single call that broke the contract: it is kept in events-invalid, and the client is told why.
      return jsonAnswer(
        400,
        { success: false, error: { code: 'invalid_event', message: result.quarantined[0].reason }, quarantined: 1 },
        headers,
      );
    }
    return jsonAnswer(
      200,
      {
        success: true,
        accepted: result.accepted.length,
        quarantined: rejected,
        ...(rejected
          ? {
              errors: result.quarantined.slice(0, 20).map((r) => ({ event_id: r.event_id ?? null, reason: r.reason })),
            }
          : {}),
      },
      headers,
    );
  }

  /** GET or POST /g/collect: GA4 gtag hits, one per body line or one in the URL. */
  async ga4(req: HitRequest): Promise<Answer> {
    const { config } = this.deps;
    const size = req.body?.length ?? 0;
    if (size > config.limits.ga4BodyBytes) throw ga4BodyTooLarge(String(size), config.limits.ga4BodyBytes);
    const post = req.method === 'POST';
    const text = post ? decodeBody(req.body, req.headers['content-encoding'], config.limits.ga4BodyBytes) : null;
    const receivedAt = new Date();
    const parsed = parseGa4({ method: post ? 'POST' : 'GET', query: req.query, body: text, receivedAt });
    const allowed = config.auth.ga4MeasurementIds;
    if (allowed.length > 0 && !allowed.includes(parsed.measurementId)) {
      throw new BadRequestError(
        `measurement id ${parsed.measurementId} is not configured on this collector`,
        403,
        'forbidden',
      );
    }
    const { headers } = await this.accept(req, receivedAt, parsed.events, 'ga4', parsed.measurementId, text);
    // Google's endpoint answers 204 with no body; gtag reads nothing from the response.
    headers['Cache-Control'] = 'no-store';
    return { status: 204, headers, body: null };
  }

  /**
   * GET /p.gif: the no-JS pixel, answered with a transparent GIF. HEAD (link checkers, some mail proxies) gets the
   * image's headers and records nothing.
   */
  async pixel(req: HitRequest): Promise<Answer> {
    if (req.method === 'HEAD') {
      return {
        status: 200,
        headers: { ...PIXEL_HEADERS, 'Content-Length': String(TRANSPARENT_GIF.length) },
        body: null,
      };
    }
    const query = new URLSearchParams(req.query);
    const receivedAt = new Date();
    const events = parsePixel(query, receivedAt);
    const { headers } = await this.accept(req, receivedAt, events, 'pixel', query.get('src') ?? 'pixel', null);
    return { status: 200, headers: { ...headers, ...PIXEL_HEADERS }, body: TRANSPARENT_GIF };
  }

  /**
   * Shared tail of every protocol route: prepare, publish durably, then hand back the result and the headers the
   * answer needs (the first-party id cookie).
   */
  private async accept(
    req: HitRequest,
    receivedAt: Date,
    parsed: ParsedEvent[],
    protocol: Protocol,
    sourceId: string,
    rawBody: string | null,
  ): Promise<{ result: PipelineResult; headers: Record<string, string> }> {
    const { pipeline, metrics, logger } = this.deps;
    const hit = hitContext(req, receivedAt, rawBody);
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
    const headers: Record<string, string> = {};
    if (result.cookie === 'delete') headers['Set-Cookie'] = this.cookies.remove;
    else if (result.cookie) headers['Set-Cookie'] = this.cookies.set(result.cookie.value);
    return { result, headers };
  }
}

function hitContext(req: HitRequest, receivedAt: Date, rawBody: string | null): HitContext {
  const cookies = parseCookies(req.headers.cookie);
  return {
    requestId: req.id,
    receivedAt,
    ip: req.ip,
    userAgent: req.headers['user-agent'] ?? null,
    headers: req.headers,
    cookies,
    host: req.host,
    gpc: req.headers['sec-gpc'] === '1',
    previewId: cookies.tp_debug ?? null,
    method: req.method,
    path: req.path,
    rawBody,
  };
}
