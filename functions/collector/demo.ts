/**
 * GET /demo: a small shop (sdk/demo/) that tracks through /sdk.js, to try the collector and the debug view.
 * Only the files in sdk/demo/ are served, by name; nothing else on disk is reachable.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sdkDir } from './sdk-route';

export interface DemoRoutesOptions {
  /** Write key the demo sends; default `dev`, the key local mode accepts when none is configured. */
  writeKey?: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'application/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

function loadFiles(writeKey: string): Map<string, { type: string; body: string }> {
  const dir = path.join(sdkDir(), 'demo');
  const files = new Map<string, { type: string; body: string }>();
  for (const name of fs.readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (!type) continue;
    let body = fs.readFileSync(path.join(dir, name), 'utf8');
    // the key sits inside a JS string literal in index.html
    if (name === 'index.html') body = body.replace('{{WRITE_KEY}}', JSON.stringify(writeKey).slice(1, -1));
    files.set(name, { type, body });
  }
  return files;
}

export function demoRoutes(app: FastifyInstance, opts: DemoRoutesOptions = {}, done?: (err?: Error) => void): void {
  let files: ReturnType<typeof loadFiles> | undefined;
  const file = (name: string) => (files ??= loadFiles(opts.writeKey ?? 'dev')).get(name);

  app.get('/demo', async (_req, reply) => {
    const index = file('index.html')!;
    return reply.type(index.type).header('Cache-Control', 'no-cache').send(index.body);
  });
  app.get<{ Params: { name: string } }>('/demo/:name', async (req, reply) => {
    const f = req.params.name === 'index.html' ? undefined : file(req.params.name);
    if (!f) return reply.code(404).send({ error: 'not_found' });
    return reply.type(f.type).header('Cache-Control', 'no-cache').send(f.body);
  });
  done?.();
}
