/** Webhook destination: signed JSON batches to any HTTPS receiver, refusing internal addresses by default. */
import type { Destination } from '../../src/core/destination';
import { sendPrepared, accept } from '../shared';
import { deliver } from './client';
import { SECRETS, configSchema, limits, type WebhookConfig } from './config';
import { privateAddressProblem, systemResolver, type Resolver } from './guard';
import { toWebhookRecord } from './transform';

export function createWebhook(resolve: Resolver = systemResolver): Destination<WebhookConfig> {
  return {
    name: 'webhook',
    description: 'JSON POST of each batch, signed with HMAC-SHA256 (X-Tagpipe-Signature)',
    configSchema,
    capabilities: ['events', 'audience_add', 'audience_remove', 'record_upsert'],
    limits,
    requiredConsent: [],
    // A receiver may or may not deduplicate on the record key: crash recovery leaves it to an operator.
    dedup: 'none',
    secrets: SECRETS,
    async send(batch, ctx) {
      if (!ctx.config.allowPrivateNetworks) {
        const problem = await privateAddressProblem(ctx.config.endpoint, resolve);
        if (problem) {
          return batch.map(() => ({
            status: 'rejected',
            reason: `webhook endpoint refused: ${problem} (set allowPrivateNetworks to allow)`,
            vendorCode: 'config',
          }));
        }
      }
      return sendPrepared(
        batch.map((record) => accept(toWebhookRecord(record))),
        ctx.config.batchSize,
        (records) => deliver(records, ctx),
      );
    },
  };
}

export const webhook = createWebhook();
export default webhook;
export { configSchema, type WebhookConfig } from './config';
export { verifySignature, sign } from './transform';
