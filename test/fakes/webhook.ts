/**
 * Fake webhook receiver: verifies `X-Tagpipe-Signature` over `timestamp.body` (401 when wrong or stale),
 * refuses bodies above `maxBodyBytes` with 413, and collects the records it accepted.
 */
import { verifySignature } from '../../destinations/webhook/transform';
import {
  bodyBytes,
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeWebhookOptions extends FakeServerOptions {
  secret?: string;
  maxBodyBytes?: number;
  now?: () => Date;
}

export interface FakeWebhook extends FakeServer {
  /** Records accepted, in arrival order. */
  received: { key: string; action: string; data: Record<string, unknown> }[];
}

export async function startFakeWebhook(options: FakeWebhookOptions = {}): Promise<FakeWebhook> {
  const secret = options.secret ?? 'webhook-test-secret-0123456789';
  const now = options.now ?? (() => new Date());
  const received: FakeWebhook['received'] = [];
  const handle = (request: RecordedRequest): FakeResponse => {
    if (request.method !== 'POST') return { status: 405, body: 'method not allowed' };
    if (options.maxBodyBytes !== undefined && bodyBytes(request) > options.maxBodyBytes)
      return { status: 413, body: 'payload too large' };
    const timestamp = request.headers['x-tagpipe-timestamp'] ?? '';
    const signature = request.headers['x-tagpipe-signature'] ?? '';
    if (!verifySignature(secret, timestamp, request.body, signature, now()))
      return { status: 401, body: 'bad signature' };
    const body = request.json as { records?: FakeWebhook['received'] } | undefined;
    if (!body || !Array.isArray(body.records)) return { status: 400, body: 'records missing' };
    received.push(...body.records);
    return {
      status: 202,
      headers: { 'x-request-id': `req-${received.length}` },
      body: { accepted: body.records.length },
    };
  };
  const server = await startFakeServer(handle, options);
  return Object.assign(server, { received });
}
