/**
 * Dry-run transport: instead of sending, writes each request a destination makes to
 * `<dataDir>/outbox/<sync>.jsonl` (one JSON line per request: time, method, URL, headers, body) and answers a
 * synthetic 200, so a sync without credentials shows exactly what it would send. Credentials that do appear
 * (an Authorization header, an access_token/api_secret query parameter) are masked before writing.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { Clock, HttpClient, HttpRequest } from '../core/destination';

export interface OutboxEntry {
  at: string;
  sync: string;
  destination: string;
  method: HttpRequest['method'];
  url: string;
  headers: Record<string, string>;
  /** The body as sent (JSON text for JSON APIs). */
  body: string | null;
}

const SECRET_PARAMS = /([?&](?:access_token|api_secret|key|token)=)[^&]*/gi;
const SECRET_HEADERS = /^(authorization|x-api-key|api-key|access-token)$/i;

export function outboxFile(outboxDir: string, sync: string): string {
  return path.join(outboxDir, `${sync}.jsonl`);
}

export function createOutboxHttpClient(options: {
  outboxDir: string;
  sync: string;
  destination: string;
  clock: Clock;
}): HttpClient {
  const file = outboxFile(options.outboxDir, options.sync);
  fs.mkdirSync(options.outboxDir, { recursive: true });
  return (request) => {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      headers[name.toLowerCase()] = SECRET_HEADERS.test(name) ? '***' : value;
    }
    const entry: OutboxEntry = {
      at: options.clock.now().toISOString(),
      sync: options.sync,
      destination: options.destination,
      method: request.method,
      url: request.url.replace(SECRET_PARAMS, '$1***'),
      headers,
      body: request.body === undefined ? null : request.body.toString(),
    };
    fs.appendFileSync(file, `${JSON.stringify(entry)}\n`);
    return Promise.resolve({
      status: 200,
      headers: { 'content-type': 'application/json', 'x-tagpipe-dry-run': '1' },
      body: '{}',
      json: {},
    });
  };
}

/** Reads the outbox of a sync (newest last); missing file = no requests. */
export function readOutbox(outboxDir: string, sync: string): OutboxEntry[] {
  const file = outboxFile(outboxDir, sync);
  if (!fs.existsSync(file)) return [];
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as OutboxEntry);
}
