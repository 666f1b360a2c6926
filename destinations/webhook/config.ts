/** Webhook: config schema and limits in one place. The receiver is ours to define, so the limits are settings. */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

export const DEFAULT_BATCH_SIZE = 100;
export const MAX_BATCH_SIZE = 10_000;
/** A body above this is split (a single record above it is refused): many receivers cap bodies at a few MB. */
export const DEFAULT_MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;
/** Receivers should refuse signatures older than this (documented in README, used by `verifySignature`). */
export const SIGNATURE_TOLERANCE_SECONDS = 300;

export const configSchema = z.object({
  /** Receiver URL (http or https). */
  endpoint: z.url({ protocol: /^https?$/ }),
  /** HMAC-SHA256 key for X-Tagpipe-Signature; env WEBHOOK_SECRET. */
  secret: z.string().min(16, 'the signing secret needs at least 16 characters'),
  batchSize: z.number().int().min(1).max(MAX_BATCH_SIZE).default(DEFAULT_BATCH_SIZE),
  maxPayloadBytes: z.number().int().min(1024).default(DEFAULT_MAX_PAYLOAD_BYTES),
  /** Extra request headers (e.g. an API key the receiver expects). */
  headers: z.record(z.string(), z.string()).default({}),
  /**
   * Off by default: the receiver's host must resolve only to public addresses, so a sync config cannot reach
   * the metadata server or internal services. Turn on for receivers inside your own network.
   */
  allowPrivateNetworks: z.boolean().default(false),
  timeoutMs: z.number().int().positive().default(10_000),
});

export type WebhookConfig = z.infer<typeof configSchema>;

export const SECRETS = ['WEBHOOK_SECRET'];

export function limits(config: WebhookConfig): DestinationLimits {
  return { maxBatchSize: config.batchSize, maxPayloadBytes: config.maxPayloadBytes };
}
