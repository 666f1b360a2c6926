/**
 * The base of every vendor fake: a node:http server on 127.0.0.1 (random port) that records each request and
 * answers through the vendor's own rules (passed in as `handle`). Knobs shared by all fakes: `respondNext` scripts
 * the next responses (429 with Retry-After, 5xx, …) ahead of the vendor logic, `latencyMs` delays answers (for
 * benchmarks), `record: false` keeps memory flat on long runs.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  method: string;
  /** Path without the query string. */
  path: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: string;
  /** Parsed body when it is JSON. */
  json?: unknown;
}

export interface FakeResponse {
  status: number;
  headers?: Record<string, string>;
  /** Objects are sent as JSON; strings as they are. */
  body?: unknown;
}

export interface FakeServerOptions {
  /** Record requests into `requests` and events into the vendor fakes' stores (default true). */
  record?: boolean;
  /** Delay before each answer, for benchmarks. */
  latencyMs?: number;
}

export interface FakeServer {
  /** Base URL, e.g. http://127.0.0.1:41234 (no trailing slash). */
  url: string;
  requests: RecordedRequest[];
  /** Requests answered so far (counted even when `record` is false). */
  readonly requestCount: number;
  /** The next requests get these answers, in order, before the vendor logic sees them. */
  respondNext(...responses: FakeResponse[]): void;
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export type FakeHandler = (request: RecordedRequest) => FakeResponse | Promise<FakeResponse>;

export async function startFakeServer(handle: FakeHandler, options: FakeServerOptions = {}): Promise<FakeServer> {
  const requests: RecordedRequest[] = [];
  const scripted: FakeResponse[] = [];
  let latencyMs = options.latencyMs ?? 0;
  let count = 0;

  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      void (async () => {
        const url = new URL(req.url ?? '/', 'http://127.0.0.1');
        const body = Buffer.concat(chunks).toString('utf8');
        const headers: Record<string, string> = {};
        for (const [name, value] of Object.entries(req.headers)) {
          if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
        }
        const recorded: RecordedRequest = {
          method: req.method ?? 'GET',
          path: url.pathname,
          query: Object.fromEntries(url.searchParams),
          headers,
          body,
          json: parseJson(body),
        };
        count += 1;
        if (options.record !== false) requests.push(recorded);
        let answer: FakeResponse;
        try {
          answer = scripted.shift() ?? (await handle(recorded));
        } catch (error) {
          answer = { status: 500, body: { error: String(error) } };
        }
        if (latencyMs > 0) await new Promise((resolve) => setTimeout(resolve, latencyMs));
        const text =
          answer.body === undefined ? '' : typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body);
        const contentType = typeof answer.body === 'string' ? 'text/plain' : 'application/json';
        res.writeHead(answer.status, { 'content-type': contentType, ...(answer.headers ?? {}) });
        res.end(text);
      })();
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    get requestCount() {
      return count;
    },
    respondNext: (...responses) => scripted.push(...responses),
    setLatency: (ms) => {
      latencyMs = ms;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function parseJson(body: string): unknown {
  if (!body) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

/** Byte length of a request body, for the vendors' payload caps. */
export function bodyBytes(request: RecordedRequest): number {
  return Buffer.byteLength(request.body, 'utf8');
}
