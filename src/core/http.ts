/**
 * The HTTP client destinations get through `ctx.http`: global `fetch` with a per-request timeout, lowercased
 * response headers, the body as text and parsed JSON when the response says it is JSON. Network failures and
 * timeouts throw `RetryableError`; every HTTP status (including 4xx/5xx) is returned for the destination's own
 * status table to classify.
 */
import { RetryableError } from './errors';
import type { HttpClient, HttpRequest, HttpResponse } from './destination';

export type FetchLike = (input: string, init: RequestInit) => Promise<Response>;

export interface HttpClientOptions {
  /** Default per-request timeout; a request's own `timeoutMs` wins. */
  timeoutMs: number;
  userAgent: string;
  /** Injected for tests; defaults to the global fetch (undici). */
  fetchImpl?: FetchLike;
  /**
   * Response bodies are cut at this size (webhook receivers are arbitrary servers); a cut body is marked with the
   * `x-tagpipe-truncated` header and not parsed. Default 64 MiB (Bulk API result files of large jobs).
   */
  maxResponseBytes?: number;
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export const DEFAULT_USER_AGENT = 'tagpipe/0.1 (+https://github.com/tagpipe/tagpipe)';

export function createHttpClient(options: HttpClientOptions): HttpClient {
  const fetchImpl: FetchLike = options.fetchImpl ?? ((input, init) => fetch(input, init));
  return async (request: HttpRequest): Promise<HttpResponse> => {
    const timeoutMs = request.timeoutMs ?? options.timeoutMs;
    const headers: Record<string, string> = { 'user-agent': options.userAgent };
    for (const [name, value] of Object.entries(request.headers ?? {})) headers[name.toLowerCase()] = value;
    const signal = AbortSignal.timeout(timeoutMs);
    let response: Response;
    let body: string;
    let truncated: boolean;
    try {
      response = await fetchImpl(request.url, {
        method: request.method,
        headers,
        body:
          request.body === undefined
            ? undefined
            : typeof request.body === 'string'
              ? request.body
              : new Uint8Array(request.body),
        signal,
        redirect: 'manual',
      });
      // The timeout covers reading the body too: a server that stalls mid-body is as dead as one that never answers.
      ({ body, truncated } = await readBody(response, options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES));
    } catch (error) {
      throw toRetryable(error, request, timeoutMs, signal.aborted);
    }
    const responseHeaders: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      responseHeaders[name.toLowerCase()] = value;
    });
    if (truncated) {
      responseHeaders['x-tagpipe-truncated'] = '1';
      return { status: response.status, headers: responseHeaders, body };
    }
    return {
      status: response.status,
      headers: responseHeaders,
      body,
      json: parseJsonBody(responseHeaders['content-type'], body),
    };
  };
}

async function readBody(response: Response, limit: number): Promise<{ body: string; truncated: boolean }> {
  if (!response.body) return { body: '', truncated: false };
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    if (size + value.byteLength > limit) {
      chunks.push(value.subarray(0, limit - size));
      await reader.cancel();
      return { body: Buffer.concat(chunks).toString('utf8'), truncated: true };
    }
    chunks.push(value);
    size += value.byteLength;
  }
  return { body: Buffer.concat(chunks).toString('utf8'), truncated: false };
}

/** Parses the body when the content type says JSON (or it plainly looks like JSON); otherwise undefined. */
export function parseJsonBody(contentType: string | undefined, body: string): unknown {
  const looksJson = /^\s*[[{]/.test(body);
  if (!body || !(contentType?.includes('json') || looksJson)) return undefined;
  try {
    return JSON.parse(body) as unknown;
  } catch {
    return undefined;
  }
}

function toRetryable(error: unknown, request: HttpRequest, timeoutMs: number, timedOut: boolean): RetryableError {
  const target = safeTarget(request.url);
  // The abort can surface as a DOMException from another realm or as undici's "terminated": trust the signal.
  if (timedOut) {
    return new RetryableError(`${request.method} ${target} timed out after ${timeoutMs} ms`);
  }
  const cause = error instanceof Error && error.cause instanceof Error ? `: ${error.cause.message}` : '';
  const message = error instanceof Error ? error.message : String(error);
  return new RetryableError(`${request.method} ${target} failed: ${message}${cause}`);
}

/** The URL without its query string: query strings carry secrets (Meta access_token, GA4 api_secret). */
function safeTarget(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '<invalid url>';
  }
}
