import cors from '@fastify/cors';
import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { registerCors } from './cors';

const ORIGINS = ['https://www.example.com', 'https://shop.example.com'];
/** CORS and caching headers compared between the two implementations. */
const HEADERS = [
  'vary',
  'access-control-allow-origin',
  'access-control-allow-credentials',
  'access-control-allow-methods',
  'access-control-allow-headers',
  'access-control-max-age',
  'access-control-expose-headers',
  'content-length',
  'content-type',
];

async function app(kind: 'plugin' | 'hook', origins: string[]): Promise<FastifyInstance> {
  const a = Fastify({ logger: false });
  if (kind === 'plugin') {
    // The options the collector passed to @fastify/cors before registerCors (requested headers reflected).
    await a.register(cors, {
      origin: (origin, cb) => {
        if (!origin) return cb(null, false);
        cb(null, origins.includes('*') || origins.includes(origin) ? origin : false);
      },
      credentials: true,
      methods: ['GET', 'POST', 'OPTIONS'],
      maxAge: 86400,
    });
  } else {
    registerCors(a, { origins });
  }
  a.get('/g/collect', async (_req, reply) => reply.code(204).send());
  a.post('/v1/batch', async (_req, reply) => reply.send({ success: true }));
  await a.listen({ host: '127.0.0.1', port: 0 });
  return a;
}

/** A real request over loopback (fastify's inject needs an ESM-only package under jest). */
async function send(a: FastifyInstance, r: { method: string; url: string; headers: Record<string, string> }) {
  const address = a.server.address() as AddressInfo;
  const res = await fetch(`http://127.0.0.1:${address.port}${r.url}`, {
    method: r.method,
    headers: r.headers,
    body: r.method === 'POST' ? '{}' : undefined,
  });
  return { statusCode: res.status, body: await res.text(), headers: Object.fromEntries(res.headers.entries()) };
}

const requests: Array<{ method: string; url: string; headers: Record<string, string> }> = [
  { method: 'GET', url: '/g/collect', headers: {} },
  { method: 'GET', url: '/g/collect', headers: { origin: 'https://www.example.com' } },
  { method: 'GET', url: '/g/collect', headers: { origin: 'https://evil.example' } },
  { method: 'POST', url: '/v1/batch', headers: { origin: 'https://shop.example.com' } },
  { method: 'POST', url: '/v1/batch', headers: { origin: 'null' } },
  {
    method: 'OPTIONS',
    url: '/v1/batch',
    headers: { origin: 'https://www.example.com', 'access-control-request-method': 'POST' },
  },
  {
    method: 'OPTIONS',
    url: '/v1/batch',
    headers: {
      origin: 'https://www.example.com',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type',
    },
  },
  {
    method: 'OPTIONS',
    url: '/v1/track',
    headers: {
      origin: 'https://shop.example.com',
      'access-control-request-method': 'POST',
      // What RudderStack's JavaScript SDK asks for on a retried event.
      'access-control-request-headers':
        'anonymousid,authorization,content-type,rsa-retry-attempt,rsa-retry-reason,sentat',
    },
  },
  { method: 'OPTIONS', url: '/v1/batch', headers: { origin: 'https://www.example.com' } },
  {
    method: 'OPTIONS',
    url: '/v1/batch',
    headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
  },
  { method: 'OPTIONS', url: '/v1/batch', headers: {} },
  {
    method: 'OPTIONS',
    url: '/nowhere',
    headers: { origin: 'https://shop.example.com', 'access-control-request-method': 'GET' },
  },
];

describe('registerCors answers exactly as @fastify/cors did with the collector options', () => {
  for (const origins of [ORIGINS, ['*']]) {
    it(`origins ${JSON.stringify(origins)}`, async () => {
      const plugin = await app('plugin', origins);
      const hook = await app('hook', origins);
      try {
        for (const r of requests) {
          const [a, b] = await Promise.all([send(plugin, r), send(hook, r)]);
          const pick = (res: typeof a) => ({
            request: `${r.method} ${r.url} ${JSON.stringify(r.headers)}`,
            status: res.statusCode,
            body: res.body,
            headers: Object.fromEntries(HEADERS.map((h) => [h, res.headers[h] ?? null])),
          });
          expect(pick(b)).toEqual(pick(a));
        }
      } finally {
        await Promise.all([plugin.close(), hook.close()]);
      }
    });
  }

  it('allows a listed origin with credentials and refuses others', async () => {
    const hook = await app('hook', ORIGINS);
    const ok = await send(hook, { method: 'GET', url: '/g/collect', headers: { origin: ORIGINS[0] } });
    expect(ok.headers['access-control-allow-origin']).toBe(ORIGINS[0]);
    expect(ok.headers['access-control-allow-credentials']).toBe('true');
    const refused = await send(hook, { method: 'GET', url: '/g/collect', headers: { origin: 'https://evil.example' } });
    expect(refused.headers['access-control-allow-origin']).toBeUndefined();
    expect(refused.headers.vary).toBe('Origin');
    await hook.close();
  });
});
