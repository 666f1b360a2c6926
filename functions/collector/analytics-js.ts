/**
 * Segment's analytics.js served from the collector's own domain, as Segment documents for a custom proxy: a site
 * changes only the host in its snippet (`https://collect.example.com/analytics.js/v1/<writeKey>/analytics.min.js`).
 * The script is analytics-next's standalone build from npm; it takes its CDN from its own script tag (or
 * `analytics._cdn`), so its settings (`/v1/projects/<writeKey>/settings`, source-config.ts) and its lazily loaded
 * chunks (`/analytics-next/bundles/…`) come from the collector too, and the settings send its events back here.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequestError } from '../../src/core/errors';
import { type ServedScript, etagOf, sendScript } from './sdk-route';

export interface AnalyticsJsOptions {
  writeKeys: readonly string[];
}

/** analytics-next's browser builds (the standalone script and its chunks), from the installed package. */
function umdDir(): string {
  return path.join(path.dirname(require.resolve('@segment/analytics-next/package.json')), 'dist', 'umd');
}

/** The chunks' names as webpack emits them (content-hashed). */
const CHUNK = /^[A-Za-z0-9_-]+\.bundle\.[0-9a-f]{8,}\.js$/;

function load(file: string): ServedScript {
  const body = fs.readFileSync(path.join(umdDir(), file));
  return { body, gzip: zlib.gzipSync(body, { level: 9 }), etag: etagOf(body) };
}

export function analyticsJsRoutes(app: FastifyInstance, options: AnalyticsJsOptions): void {
  // The installed build's chunks, listed once; each is read and compressed when first asked for.
  const chunks = new Set(fs.readdirSync(umdDir()).filter((f) => CHUNK.test(f)));
  const cache = new Map<string, ServedScript>();
  const get = (file: string): ServedScript => {
    let served = cache.get(file);
    if (!served) cache.set(file, (served = load(file)));
    return served;
  };

  app.get(
    '/analytics.js/v1/:writeKey/analytics.min.js',
    async (req: FastifyRequest<{ Params: { writeKey: string } }>, reply) => {
      if (!options.writeKeys.includes(req.params.writeKey)) {
        throw new BadRequestError('unknown write key: use one configured on this collector', 404, 'not_found');
      }
      // The same script for every key (it reads the key from its own URL); short-lived, like Segment's.
      return sendScript(req, reply, get('standalone.js'), 'public, max-age=300, stale-while-revalidate=86400');
    },
  );

  app.get('/analytics-next/bundles/:file', async (req: FastifyRequest<{ Params: { file: string } }>, reply) => {
    const file = req.params.file;
    if (!chunks.has(file)) {
      throw new BadRequestError(`no analytics.js chunk named "${file.slice(0, 80)}"`, 404, 'not_found');
    }
    // Content-hashed names never change content.
    return sendScript(req, reply, get(file), 'public, max-age=31536000, immutable');
  });
}
