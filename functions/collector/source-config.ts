/**
 * `GET /sourceConfig`: the source configuration RudderStack's JavaScript SDK (v3) fetches from its `configUrl`
 * before it sends anything. Pointing both `configUrl` and the data plane URL at the collector lets a site keep
 * that SDK with no RudderStack control plane: the answer is an enabled source with no device-mode destinations,
 * for a write key the collector accepts (from the `writeKey` query parameter the SDK adds, or Basic auth).
 * The events then arrive on `/v1/*` (XHR) or `/beacon/v1/batch` (sendBeacon), which the Segment routes serve.
 */
import crypto from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../src/core/errors';
import { basicAuthUser } from './routes';

export interface SourceConfigOptions {
  writeKeys: readonly string[];
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

/** The write key a source-config request names: `?writeKey=`, else the Basic auth user. */
export function sourceConfigKey(req: Pick<FastifyRequest, 'query' | 'headers'>): string | null {
  const query = req.query as Record<string, unknown> | undefined;
  const fromQuery = typeof query?.writeKey === 'string' ? query.writeKey : null;
  return fromQuery || basicAuthUser(req.headers.authorization) || null;
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

export function sourceConfigRoutes(app: FastifyInstance, options: SourceConfigOptions): void {
  const updatedAt = new Date().toISOString();
  const handler = async (req: FastifyRequest) => {
    const key = sourceConfigKey(req);
    if (!key) {
      throw new BadRequestError(
        'missing write key: send it as ?writeKey= (as the RudderStack SDK does) or as the Basic auth user',
        401,
        'unauthorized',
      );
    }
    if (!options.writeKeys.includes(key)) throw new BadRequestError('unknown write key', 401, 'unauthorized');
    return sourceConfigFor(key, updatedAt);
  };
  for (const url of ['/sourceConfig', '/sourceConfig/']) {
    app.get(url, async (req, reply) => {
      const answer = await handler(req);
      // The SDK fetches it on every page load; it only changes when the write keys do.
      return reply.header('Cache-Control', 'private, max-age=300').send(answer);
    });
  }
}
