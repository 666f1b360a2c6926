/** The built /sdk.js: size budget, what it may not contain, that the minified bundle works, and the route. */
import http from 'node:http';
import vm from 'node:vm';
import zlib from 'node:zlib';
import Fastify from 'fastify';
import { acceptsGzip, buildSdk, sdkRoutes } from '../../functions/collector/sdk-route';
import { FakeWindow, settle } from './fake-window';

describe('buildSdk', () => {
  it('stays within 2 KB gzipped', async () => {
    const sdk = await buildSdk();
    expect(sdk.gzipBytes).toBe(zlib.gzipSync(sdk.js, { level: 9 }).length);
    expect(sdk.gzipBytes).toBeLessThanOrEqual(2048);
  });

  it('makes no third-party requests and sets no cookies', async () => {
    const { js } = await buildSdk();
    expect(js).not.toMatch(/https?:\/\/(?!\[)/); // no hard-coded hosts
    expect(js).not.toMatch(/cookie/i);
  });

  it('runs minified in a page: replays the stub queue and posts to the origin it was loaded from', async () => {
    const { js } = await buildSdk();
    const w = new FakeWindow();
    Object.assign(w.document, { currentScript: { src: 'https://t.shop.example.com/sdk.js?v=1' } });
    const sandbox = vm.createContext(w);
    // the documented snippet, verbatim
    vm.runInContext(
      'window = this; window.tagpipe = window.tagpipe || function(){(tagpipe.q=tagpipe.q||[]).push(arguments)};' +
        "tagpipe('init', { writeKey: 'wk', flushAt: 1 }); tagpipe('track', 'Loaded later');",
      sandbox,
    );
    vm.runInContext(js, sandbox);
    await settle();
    expect(w.requests.map((r) => [r.url, r.body.batch[0].event])).toEqual([
      ['https://t.shop.example.com/v1/batch', 'Loaded later'],
    ]);
    expect(typeof (w.tagpipe as unknown as { version: unknown }).version).toBe('string');
  });

  it('bakes in a configured collector URL', async () => {
    const { js } = await buildSdk({ collectorUrl: 'https://collect.example.com/' });
    const w = new FakeWindow();
    const sandbox = vm.createContext(w);
    vm.runInContext(js, sandbox);
    w.tagpipe!('init', { writeKey: 'wk', flushAt: 1 });
    w.tagpipe!('page');
    await settle();
    expect(w.requests[0].url).toBe('https://collect.example.com/v1/batch');
  });
});

describe('acceptsGzip', () => {
  it.each([
    ['gzip, deflate, br', true],
    ['br;q=1.0, gzip;q=0.8', true],
    ['*', true],
    ['gzip;q=0', false],
    ['deflate', false],
    [undefined, false],
  ])('%s → %s', (header, expected) => expect(acceptsGzip(header)).toBe(expected));
});

/** Raw HTTP GET (no automatic decompression, unlike fetch). fastify's inject cannot load under jest here. */
function get(url: string, headers: Record<string, string> = {}) {
  return new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
    http
      .get(url, { headers }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts) }));
      })
      .on('error', reject);
  });
}

describe('GET /sdk.js', () => {
  const app = Fastify();
  sdkRoutes(app, {});
  let base = '';
  beforeAll(async () => {
    base = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => app.close());

  it('serves gzip when accepted, with cache headers and an ETag', async () => {
    const sdk = await buildSdk();
    const res = await get(`${base}/sdk.js`, { 'accept-encoding': 'gzip, br' });
    expect(res.status).toBe(200);
    expect(res.headers['content-encoding']).toBe('gzip');
    expect(res.headers['content-type']).toBe('application/javascript; charset=utf-8');
    expect(res.headers['cache-control']).toMatch(/public, max-age=\d+/);
    expect(res.headers['etag']).toBe(sdk.etag);
    expect(res.headers['vary']).toMatch(/Accept-Encoding/);
    expect(res.headers['access-control-allow-origin']).toBe('*');
    expect(res.headers['cross-origin-resource-policy']).toBe('cross-origin');
    expect(zlib.gunzipSync(res.body).toString()).toBe(sdk.js);
    expect(res.body.length).toBe(sdk.gzipBytes);
  });

  it('serves identity encoding otherwise, and 304 for a matching If-None-Match', async () => {
    const plain = await get(`${base}/sdk.js`);
    expect(plain.headers['content-encoding']).toBeUndefined();
    expect(plain.body.toString()).toContain('tagpipe.js');
    const etag = plain.headers['etag'] as string;
    const again = await get(`${base}/sdk.js`, { 'if-none-match': `W/${etag}` });
    expect(again.status).toBe(304);
    expect(again.body.length).toBe(0);
    const changed = await get(`${base}/sdk.js`, { 'if-none-match': '"other"' });
    expect(changed.status).toBe(200);
  });

  it('registers as a fastify plugin too', async () => {
    const other = Fastify();
    await other.register(sdkRoutes, { collectorUrl: 'https://collect.example.com' });
    const url = await other.listen({ port: 0, host: '127.0.0.1' });
    const res = await get(`${url}/sdk.js`);
    expect(res.body.toString()).toContain('https://collect.example.com');
    await other.close();
  });
});
