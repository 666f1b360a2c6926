/** GET /demo and its files: served by name only, with the write key filled in and the SDK snippet in place. */
import Fastify, { type FastifyInstance } from 'fastify';
import { demoRoutes } from '../../functions/collector/demo';

describe('/demo', () => {
  let app: FastifyInstance;
  let url = '';
  beforeAll(async () => {
    app = Fastify();
    demoRoutes(app, { writeKey: 'wk_"demo' });
    url = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  afterAll(() => app.close());

  it('serves the shop page with the snippet, the escaped write key and a link to /debug', async () => {
    const res = await fetch(`${url}/demo`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    const html = await res.text();
    expect(html).toContain('window.tagpipe = window.tagpipe || function(){(tagpipe.q=tagpipe.q||[]).push(arguments)};');
    expect(html).toContain(`writeKey: 'wk_\\"demo'`);
    expect(html).toContain('<script async src="/sdk.js"></script>');
    expect(html).toContain('href="/debug"');
  });

  it('serves its script and stylesheet, and nothing else', async () => {
    const js = await fetch(`${url}/demo/app.js`);
    expect(js.headers.get('content-type')).toBe('application/javascript; charset=utf-8');
    for (const name of ['Product Viewed', 'Product Added', 'Checkout Started', 'Order Completed']) {
      expect(await js.clone().text()).toContain(`'${name}'`);
    }
    expect((await fetch(`${url}/demo/style.css`)).status).toBe(200);
    for (const path of [
      '/demo/..%2Fsrc%2Fcore.ts',
      '/demo/index.html',
      '/demo/nope.js',
      '/demo/%2e%2e%2fpackage.json',
    ]) {
      expect((await fetch(`${url}${path}`)).status).toBe(404);
    }
  });
});
