import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHttpClient } from './http';
import { RetryableError } from './errors';

describe('createHttpClient', () => {
  let server: http.Server;
  let base: string;
  const seen: { method?: string; headers: http.IncomingHttpHeaders; body: string }[] = [];

  beforeAll(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        seen.push({ method: req.method, headers: req.headers, body: Buffer.concat(chunks).toString() });
        if (req.url === '/json') {
          res.writeHead(429, { 'Content-Type': 'application/json', 'Retry-After': '7', 'X-Vendor-Id': 'abc' });
          res.end(JSON.stringify({ error: 'slow down' }));
        } else if (req.url === '/text') {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('plain words');
        } else if (req.url === '/stall') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.write('{"partial":'); // never finishes
        } else if (req.url === '/huge') {
          res.writeHead(200, { 'content-type': 'application/json' });
          res.end(`{"x":"${'a'.repeat(200_000)}"}`);
        } else if (req.url === '/redirect') {
          res.writeHead(302, { location: 'http://169.254.169.254/' });
          res.end();
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it('returns status, lowercased headers, text and parsed JSON, and sends method, headers and body', async () => {
    const client = createHttpClient({ timeoutMs: 2000, userAgent: 'tagpipe-test/1' });
    const response = await client({
      method: 'PATCH',
      url: `${base}/json`,
      headers: { 'Content-Type': 'application/json' },
      body: '{"a":1}',
    });
    expect(response.status).toBe(429);
    expect(response.headers['retry-after']).toBe('7');
    expect(response.headers['x-vendor-id']).toBe('abc');
    expect(response.json).toEqual({ error: 'slow down' });
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ method: 'PATCH', body: '{"a":1}' });
    expect(last.headers['user-agent']).toBe('tagpipe-test/1');
    expect(last.headers['content-type']).toBe('application/json');
  });

  it('leaves json undefined for text bodies', async () => {
    const client = createHttpClient({ timeoutMs: 2000, userAgent: 'x' });
    const response = await client({ method: 'GET', url: `${base}/text` });
    expect(response).toMatchObject({ status: 200, body: 'plain words' });
    expect(response.json).toBeUndefined();
  });

  it('does not follow redirects (a webhook must not be bounced onto an internal address)', async () => {
    const client = createHttpClient({ timeoutMs: 2000, userAgent: 'x' });
    const response = await client({ method: 'POST', url: `${base}/redirect`, body: 'x' });
    expect(response.status).toBe(302);
    expect(response.headers.location).toBe('http://169.254.169.254/');
  });

  it('throws RetryableError on a timeout, including a body that stalls, without the query string', async () => {
    const client = createHttpClient({ timeoutMs: 5000, userAgent: 'x' });
    const attempt = client({ method: 'GET', url: `${base}/stall?access_token=secret`, timeoutMs: 200 });
    await expect(attempt).rejects.toBeInstanceOf(RetryableError);
    await expect(client({ method: 'GET', url: `${base}/stall?access_token=secret`, timeoutMs: 200 })).rejects.toThrow(
      /timed out after 200 ms/,
    );
    await expect(
      client({ method: 'GET', url: `${base}/stall?access_token=secret`, timeoutMs: 200 }),
    ).rejects.not.toThrow(/secret/);
  });

  it('throws RetryableError when the connection is refused', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const client = createHttpClient({ timeoutMs: 2000, userAgent: 'x' });
    await expect(client({ method: 'GET', url: `http://127.0.0.1:${port}/` })).rejects.toBeInstanceOf(RetryableError);
  });

  it('cuts bodies above maxResponseBytes, marks them and leaves them unparsed', async () => {
    const client = createHttpClient({ timeoutMs: 2000, userAgent: 'x', maxResponseBytes: 1000 });
    const response = await client({ method: 'GET', url: `${base}/huge` });
    expect(response.body).toHaveLength(1000);
    expect(response.headers['x-tagpipe-truncated']).toBe('1');
    expect(response.json).toBeUndefined();
    const whole = await createHttpClient({ timeoutMs: 2000, userAgent: 'x' })({ method: 'GET', url: `${base}/huge` });
    expect((whole.json as { x: string }).x).toHaveLength(200_000);
  });

  it('uses an injected fetch', async () => {
    const calls: string[] = [];
    const client = createHttpClient({
      timeoutMs: 100,
      userAgent: 'x',
      fetchImpl: (url) => {
        calls.push(url);
        return Promise.resolve(
          new Response('{"ok":true}', { status: 201, headers: { 'Content-Type': 'application/json' } }),
        );
      },
    });
    const response = await client({ method: 'GET', url: 'https://example.test/a' });
    expect(calls).toEqual(['https://example.test/a']);
    expect(response).toMatchObject({ status: 201, json: { ok: true } });
  });
});
