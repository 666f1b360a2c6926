/**
 * The browser-hit routes served straight from node:http (/g/collect, /p.gif): they answer what fastify's routes
 * answer (client address through trusted proxies, host, CORS, error bodies), refuse bad bodies with the right 4xx
 * while valid hits alongside land, and leave every other method to fastify.
 */
import http from 'node:http';
import zlib from 'node:zlib';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import Fastify from 'fastify';
import { silentLogger } from '../../src/core/logger';
import { clientAddress, hostNameOf, trustHops } from '../../functions/collector/answers';
import { DirectRoutes } from '../../functions/collector/direct';
import { CollectorMetrics } from '../../functions/collector/metrics';
import type { ProtocolRoutes } from '../../functions/collector/routes';
import { readRaw, startTestStack, tempDir, testConfig } from '../helpers/stack';

type Stack = Awaited<ReturnType<typeof startTestStack>>;
let stack: Stack;

beforeAll(async () => {
  stack = await startTestStack({
    TAGPIPE_COOKIE_DOMAIN: 'localhost',
    TAGPIPE_CORS_ORIGINS: 'https://www.example.com',
    TAGPIPE_GA4_MEASUREMENT_IDS: 'G-DIRECT123,G-OTHER456',
  });
});
afterAll(async () => {
  await stack?.close();
});

const GA4 = '/g/collect?v=2&tid=G-DIRECT123&cid=1.2&sid=77&_p=5&gcs=G111';

/** A request over loopback with exact control of the headers (fetch adds and forbids some). */
function raw(
  port: number,
  options: { method: string; path: string; headers?: Record<string, string | number>; body?: Buffer | string },
): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method: options.method, path: options.path, headers: options.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

const port = () => Number(new URL(stack.url).port);

describe('client address and host, as fastify reads them', () => {
  const addressText = fc
    .array(
      fc.oneof(fc.constantFrom(',', ' ', ', ', ',,', '  '), fc.ipV4(), fc.ipV6(), fc.constantFrom('x', 'unknown')),
      {
        maxLength: 8,
      },
    )
    .map((parts) => parts.join(''));

  it.each([0, 1, 2, 3])(
    "X-Forwarded-For with %i trusted hops gives fastify's request.ip and hostname",
    async (hops) => {
      const app = Fastify({ trustProxy: hops > 0 ? (_a: string, hop: number) => hop < hops : false });
      app.get('/', async (req) => ({ ip: req.ip, host: req.hostname }));
      await app.listen({ host: '127.0.0.1', port: 0 });
      const appPort = (app.server.address() as AddressInfo).port;
      try {
        await fc.assert(
          fc.asyncProperty(
            addressText,
            fc.constantFrom('', 'proxy.example', 'a.example:8443, b.example'),
            async (xff, xfh) => {
              const headers: Record<string, string> = { host: 'shop.example.com:8080' };
              if (xff !== '') headers['x-forwarded-for'] = xff;
              if (xfh !== '') headers['x-forwarded-host'] = xfh;
              const res = await raw(appPort, { method: 'GET', path: '/', headers });
              const seen = JSON.parse(res.body) as { ip: string; host: string };
              const req = { socket: { remoteAddress: '127.0.0.1' }, headers } as unknown as http.IncomingMessage;
              expect(clientAddress(req, hops > 0 ? trustHops(hops) : null)).toBe(seen.ip);
              expect(hostNameOf(headers, hops > 0)).toBe(seen.host.replace(/:\d+$/, ''));
            },
          ),
          { numRuns: 60 },
        );
      } finally {
        await app.close();
      }
    },
  );

  it('lands a GA4 hit and a Segment call with the same truncated address and host', async () => {
    const headers = { 'x-forwarded-for': '198.51.100.23, 203.0.113.77', 'content-type': 'application/json' };
    const ga4 = await raw(port(), { method: 'GET', path: `${GA4}&en=addr_check&_s=1`, headers });
    const seg = await raw(port(), {
      method: 'POST',
      path: '/v1/track',
      headers: { ...headers, authorization: 'Basic ' + Buffer.from('dev:').toString('base64') },
      body: JSON.stringify({
        messageId: 'direct-addr-1',
        anonymousId: 'a-1',
        event: 'Addr Check',
        context: { consent: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true } },
      }),
    });
    expect([ga4.status, seg.status]).toEqual([204, 200]);
    await stack.drain();
    const rows = await readRaw(stack.dataDir);
    const ga4Row = rows.find((r) => r.data.event === 'addr_check')!;
    const segRow = rows.find((r) => r.data.event_id === 'direct-addr-1')!;
    // One trusted hop: the last X-Forwarded-For entry, truncated to its /24.
    expect(ga4Row.data.context.ip).toBe('203.0.113.0');
    expect(segRow.data.context.ip).toBe(ga4Row.data.context.ip);
  });
});

describe('answers', () => {
  it('sends the same CORS headers as the fastify routes, for allowed and other origins', async () => {
    for (const origin of ['https://www.example.com', 'https://evil.example']) {
      const direct = await raw(port(), { method: 'GET', path: `${GA4}&en=cors_check&_s=2`, headers: { origin } });
      const viaFastify = await raw(port(), { method: 'GET', path: '/healthz', headers: { origin } });
      for (const h of ['vary', 'access-control-allow-origin', 'access-control-allow-credentials']) {
        expect([origin, h, direct.headers[h]]).toEqual([origin, h, viaFastify.headers[h]]);
      }
    }
    const allowed = await raw(port(), {
      method: 'GET',
      path: `${GA4}&en=cors_check&_s=3`,
      headers: { origin: 'https://www.example.com' },
    });
    expect(allowed.headers['access-control-allow-origin']).toBe('https://www.example.com');
    expect(allowed.headers['access-control-allow-credentials']).toBe('true');
  });

  it('leaves preflights and other methods to fastify', async () => {
    const preflight = await raw(port(), {
      method: 'OPTIONS',
      path: '/g/collect',
      headers: { origin: 'https://www.example.com', 'access-control-request-method': 'POST' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers['access-control-allow-methods']).toBe('GET, POST, OPTIONS');
    expect((await raw(port(), { method: 'HEAD', path: GA4 })).status).toBe(404);
    expect((await raw(port(), { method: 'PUT', path: GA4, body: 'en=x' })).status).toBe(404);
    expect((await raw(port(), { method: 'POST', path: '/p.gif' })).status).toBe(404);
    // A link checker's HEAD on the pixel sees an image and records nothing.
    const head = await raw(port(), { method: 'HEAD', path: '/p.gif?e=Head%20Check&t=track&eid=px-head-1' });
    expect([head.status, head.headers['content-type'], head.headers['content-length'], head.body]).toEqual([
      200,
      'image/gif',
      '43',
      '',
    ]);
    const pixel = await raw(port(), { method: 'GET', path: '/p.gif?e=Head%20Check&t=track&eid=px-get-1' });
    expect(pixel.status).toBe(200);
    await stack.drain();
    const ids = (await readRaw(stack.dataDir)).map((r) => r.data.event_id);
    expect(ids).toContain('px-get-1');
    expect(ids).not.toContain('px-head-1');
  });

  it('refuses each kind of bad GA4 request with a clear 4xx and lands the valid hits sent alongside', async () => {
    const big = 'en=big&ep.blob=' + 'x'.repeat(70 * 1024);
    const bad: Array<[string, Record<string, string | number>, Buffer | string, number, RegExp]> = [
      ['POST', {}, big, 413, /GA4 body is \d+ bytes; the limit is 65536/],
      ['POST', { 'content-encoding': 'gzip' }, Buffer.from('not gzip'), 400, /gzip/],
      ['POST', { 'content-encoding': 'br' }, 'en=x', 415, /Content-Encoding/],
      ['POST', {}, Buffer.from([0x65, 0x6e, 0x3d, 0xff, 0xfe]), 400, /UTF-8/],
      [
        'POST',
        { 'content-encoding': 'gzip' },
        zlib.gzipSync(Buffer.from('en=x&ep.pad=' + 'y'.repeat(200 * 1024))),
        413,
        /decompressed body exceeds/,
      ],
    ];
    const sends = bad.map(([method, headers, body]) => raw(port(), { method, path: `${GA4}&_s=9`, headers, body }));
    const forbidden = raw(port(), { method: 'GET', path: '/g/collect?v=2&tid=G-NOTMINE99&en=x' });
    const noVersion = raw(port(), { method: 'GET', path: '/g/collect?tid=G-DIRECT123&en=x' });
    const valid = Array.from({ length: 10 }, (_, i) =>
      raw(port(), {
        method: 'POST',
        path: `${GA4}&_s=${100 + i}`,
        headers: { 'content-encoding': 'gzip' },
        body: zlib.gzipSync(Buffer.from(`en=alongside&ep.n=${i}`)),
      }),
    );
    const results = await Promise.all(sends);
    results.forEach((res, i) => {
      expect([i, res.status]).toEqual([i, bad[i][3]]);
      const json = JSON.parse(res.body) as { success: boolean; error: { message: string } };
      expect(json.success).toBe(false);
      expect(json.error.message).toMatch(bad[i][4]);
    });
    // A body over the limit is not read: the connection is closed after the answer.
    expect(results[0].headers.connection).toBe('close');
    expect((await forbidden).status).toBe(403);
    expect(JSON.parse((await noVersion).body).error.message).toMatch(/v=2/);
    expect((await Promise.all(valid)).map((r) => r.status)).toEqual(Array(10).fill(204));
    await stack.drain();
    const landed = (await readRaw(stack.dataDir)).filter((r) => r.data.event === 'alongside');
    expect(landed.map((r) => r.data.properties.n).sort()).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
  });

  it('refuses a chunked GA4 body once it passes the limit, without reading the rest', async () => {
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: port(), method: 'POST', path: `${GA4}&_s=20`, agent: false },
        (r) => {
          let body = '';
          r.on('data', (c: Buffer) => (body += c.toString()));
          r.on('end', () => resolve({ status: r.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // No Content-Length: chunks keep coming until the server answers.
      const piece = 'ep.pad=' + 'z'.repeat(16 * 1024) + '&';
      let sent = 0;
      const pump = () => {
        while (sent < 40 && req.write(piece)) sent++;
        if (sent < 40) req.once('drain', pump);
        else req.end();
      };
      pump();
    });
    expect(res.status).toBe(413);
    expect(JSON.parse(res.body).error.message).toMatch(/GA4 body is over 65536 bytes/);
    expect((await fetch(stack.url + '/healthz')).status).toBe(200);
  });

  it('quarantines a hit with a hostile parameter name with its reason', async () => {
    const res = await raw(port(), { method: 'GET', path: `${GA4}&en=hostile&_s=30&ep.__proto__=x&ep.ok=1` });
    expect(res.status).toBe(204);
    await stack.drain();
    const invalid = await readRaw(stack.dataDir, 'events_invalid');
    const row = invalid.find((r) => String(r.data.raw).includes('en=hostile'));
    expect(row?.data.reason).toMatch(/forbidden parameter name "ep.__proto__"/);
  });
});

describe('DirectRoutes on its own', () => {
  it('survives an answer node cannot write, and answers 503 with Connection: close once closing', async () => {
    const dataDir = tempDir();
    const config = testConfig(dataDir);
    const metrics = new CollectorMetrics();
    const served: string[] = [];
    const routes = {
      ga4: async () => {
        served.push('ga4');
        return { status: 204, headers: {}, body: null };
      },
      // An answer node refuses to write: a header value with a line break.
      pixel: async () => ({ status: 200, headers: { 'X-Broken': 'a\r\nb' }, body: null }),
    } as unknown as ProtocolRoutes;
    const direct = new DirectRoutes({
      routes,
      errors: { config, metrics, logger: silentLogger, maxBody: 1024 },
      cors: { origins: [] },
      trustedHops: 0,
    });
    const server = http.createServer((req, res) => {
      if (!direct.handle(req, res)) {
        res.writeHead(418);
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const p = (server.address() as AddressInfo).port;
    try {
      expect((await raw(p, { method: 'GET', path: GA4 })).status).toBe(204);
      expect((await raw(p, { method: 'GET', path: '/other' })).status).toBe(418);
      // The broken answer fails its own request only; the server keeps serving.
      await expect(raw(p, { method: 'GET', path: '/p.gif' })).rejects.toThrow(/socket hang up|ECONNRESET/);
      expect((await raw(p, { method: 'GET', path: GA4 })).status).toBe(204);
      direct.close();
      const closing = await raw(p, { method: 'GET', path: GA4 });
      expect(closing.status).toBe(503);
      expect(closing.headers.connection).toBe('close');
      expect(JSON.parse(closing.body)).toEqual({
        error: 'Service Unavailable',
        message: 'Service Unavailable',
        statusCode: 503,
      });
      expect(served).toEqual(['ga4', 'ga4']);
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
