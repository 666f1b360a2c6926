/**
 * The configuration browser SDKs load before they send anything, answered by the collector so a site keeps its
 * SDK with no vendor control plane or CDN behind it:
 *
 * - `GET /sourceConfig` for RudderStack's JavaScript SDK (v3), fetched from its `configUrl`: an enabled source with
 *   no device-mode destinations, for a known write key (Basic auth, or the `writeKey` query parameter the SDK
 *   adds; read as the event routes read it). Its events then arrive on `/v1/*` (XHR) or `/beacon/v1/batch`.
 * - `GET /v1/projects/:writeKey/settings` for Segment's analytics.js (analytics-next), fetched from its `cdnURL`:
 *   the Segment.io integration pointed back at this collector (`apiHost` is the host the request came to, with
 *   `/v1`), no destinations, and telemetry off. Its events then arrive on `/v1/t`, `/v1/p`, ... as text/plain.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../src/core/errors';
import { requestWriteKey, splitTarget } from './routes';

export interface SourceConfigOptions {
  writeKeys: readonly string[];
}

/** What analytics.js needs from its CDN settings: where to send events, and nothing else to load. */
export interface SegmentSettingsAnswer {
  integrations: { 'Segment.io': { apiKey: string; apiHost: string; protocol: string } };
  plan: Record<string, never>;
  remotePlugins: [];
  metrics: { sampleRate: 0 };
  analyticsNextEnabled: true;
}

export function segmentSettingsFor(writeKey: string, host: string, protocol: string): SegmentSettingsAnswer {
  return {
    integrations: { 'Segment.io': { apiKey: writeKey, apiHost: `${host}/v1`, protocol } },
    plan: {},
    remotePlugins: [],
    // analytics.js would otherwise send its own usage metrics to Segment.
    metrics: { sampleRate: 0 },
    analyticsNextEnabled: true,
  };
}

/** The fields the SDK requires (`source.id`, a `config` object, a `destinations` array) and `enabled`. */
export interface SourceConfigAnswer {
  isHosted: false;
  source: {
    id: string;
    name: string;
    writeKey: string;
    enabled: true;
    config: Record<string, never>;
    destinations: [];
    workspaceId: string;
    updatedAt: string;
  };
}

export function sourceConfigFor(writeKey: string, updatedAt: string): SourceConfigAnswer {
  // A stable id per write key that does not reveal it.
  const id = crypto.createHash('sha256').update(`tagpipe-source:${writeKey}`).digest('hex').slice(0, 27);
  return {
    isHosted: false,
    source: {
      id,
      name: 'tagpipe',
      writeKey,
      enabled: true,
      config: {},
      destinations: [],
      workspaceId: 'tagpipe',
      updatedAt,
    },
  };
}

/** Registers both SDKs' configuration routes. */
export function sourceConfigRoutes(app: FastifyInstance, options: SourceConfigOptions): void {
  const updatedAt = new Date().toISOString();
  const handler = async (req: FastifyRequest) => {
    const key = requestWriteKey(req.headers, splitTarget(req.url).query);
    if (!key) {
      throw new BadRequestError(
        'missing write key: send it as the Basic auth user or as ?writeKey= (as the RudderStack SDK does)',
        401,
        'unauthorized',
      );
    }
    if (!options.writeKeys.includes(key)) throw new BadRequestError('unknown write key', 401, 'unauthorized');
    return sourceConfigFor(key, updatedAt);
  };
  app.get('/v1/projects/:writeKey/settings', async (req: FastifyRequest<{ Params: { writeKey: string } }>, reply) => {
    const key = req.params.writeKey;
    if (!options.writeKeys.includes(key)) {
      throw new BadRequestError(`unknown write key: no settings for "${key.slice(0, 64)}"`, 404, 'not_found');
    }
    // As Segment's CDN answers: readable from any page (the write key is public), cacheable for a while.
    return reply
      .header('Access-Control-Allow-Origin', '*')
      .header('Cache-Control', 'public, max-age=300')
      .send(segmentSettingsFor(key, req.host, req.protocol));
  });
  for (const url of ['/sourceConfig', '/sourceConfig/']) {
    app.get(url, async (req, reply) => {
      const answer = await handler(req);
      // The SDK fetches it on every page load; it only changes when the write keys do.
      return reply.header('Cache-Control', 'private, max-age=300').send(answer);
    });
  }
}
