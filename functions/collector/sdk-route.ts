/**
 * GET /sdk.js: the browser SDK (sdk/src), bundled and minified with esbuild once per process, served with
 * an ETag, gzip when the client accepts it, and headers that let any site load it as a script.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import * as esbuild from 'esbuild';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

export interface BuiltSdk {
  js: string;
  /** The script gzipped once (level 9), as /sdk.js serves it. */
  gzip: Buffer;
  gzipBytes: number;
  etag: string;
}

export interface SdkBuildOptions {
  /** Collector origin baked in as the default endpoint; unset = the origin the script was loaded from. */
  collectorUrl?: string;
}

/** The repository's sdk/ folder (sources, demo shop, debug page), from the source tree or from dist/. */
export function sdkDir(): string {
  const candidates = [path.resolve(__dirname, '../../sdk'), path.resolve(__dirname, '../../../sdk')];
  const found = candidates.find((p) => fs.existsSync(path.join(p, 'src', 'index.ts')));
  if (!found) throw new Error(`sdk/ not found (looked at ${candidates.join(', ')})`);
  return found;
}

/** Bundles and minifies the SDK. Result strings are ASCII-only so byte counts equal lengths. */
export async function buildSdk(options: SdkBuildOptions = {}): Promise<BuiltSdk> {
  const result = await esbuild.build({
    entryPoints: [path.join(sdkDir(), 'src', 'index.ts')],
    bundle: true,
    minify: true,
    format: 'iife',
    target: ['es2019'],
    charset: 'ascii',
    legalComments: 'none',
    write: false,
    define: { TAGPIPE_ENDPOINT: JSON.stringify(options.collectorUrl?.replace(/\/$/, '') ?? '') },
    logLevel: 'silent',
  });
  const js = result.outputFiles[0].text;
  const gzip = zlib.gzipSync(js, { level: 9 });
  return { js, gzip, gzipBytes: gzip.length, etag: etagOf(js) };
}

/** A strong ETag from a script's content. */
export function etagOf(content: string | Buffer): string {
  return `"${crypto.createHash('sha256').update(content).digest('base64url').slice(0, 22)}"`;
}

/** A script as served: its content, gzipped once, and its ETag. */
export interface ServedScript {
  body: string | Buffer;
  gzip: Buffer;
  etag: string;
}

/**
 * Answers with a script any site may load (also with crossorigin="anonymous" and under COEP): 304 when the client
 * has it, gzip when it accepts it.
 */
export function sendScript(
  request: FastifyRequest,
  reply: FastifyReply,
  script: ServedScript,
  cacheControl: string,
): FastifyReply {
  void reply
    .header('Content-Type', 'application/javascript; charset=utf-8')
    .header('Cache-Control', cacheControl)
    .header('ETag', script.etag)
    .header('Vary', 'Accept-Encoding')
    .header('X-Content-Type-Options', 'nosniff')
    .header('Access-Control-Allow-Origin', '*')
    .header('Cross-Origin-Resource-Policy', 'cross-origin');
  if (etagMatches(request.headers['if-none-match'], script.etag)) return reply.code(304).send();
  if (acceptsGzip(request.headers['accept-encoding']))
    return reply.header('Content-Encoding', 'gzip').send(script.gzip);
  return reply.send(script.body);
}

/** True when Accept-Encoding lists gzip (or `*`) without q=0. */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  return header.split(',').some((part) => {
    const [coding, ...params] = part.trim().toLowerCase().split(';');
    if (coding !== 'gzip' && coding !== '*') return false;
    const q = params.map((p) => p.trim()).find((p) => p.startsWith('q='));
    return !q || Number(q.slice(2)) > 0;
  });
}

function etagMatches(ifNoneMatch: string | undefined, etag: string): boolean {
  if (!ifNoneMatch) return false;
  if (ifNoneMatch.trim() === '*') return true;
  // weak comparison (RFC 9110 13.1.2): W/ prefixes are ignored
  const bare = (t: string) => t.trim().replace(/^W\//, '');
  return ifNoneMatch.split(',').some((t) => bare(t) === bare(etag));
}

export function sdkRoutes(app: FastifyInstance, opts: SdkBuildOptions = {}, done?: (err?: Error) => void): void {
  let built: Promise<BuiltSdk> | undefined;
  const get = () => {
    built ??= buildSdk(opts);
    // a failed build is retried on the next request rather than cached
    built.catch(() => (built = undefined));
    return built;
  };

  app.get('/sdk.js', async (request: FastifyRequest, reply: FastifyReply) => {
    const sdk = await get();
    // unversioned URL: short freshness, long stale-while-revalidate, so a new SDK reaches sites within minutes
    return sendScript(
      request,
      reply,
      { body: sdk.js, gzip: sdk.gzip, etag: sdk.etag },
      'public, max-age=300, stale-while-revalidate=86400',
    );
  });
  done?.();
}
