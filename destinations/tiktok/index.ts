/** TikTok Events API destination: conversions as web events, deduplicated with the pixel on event_id. */
import type { Destination } from '../../src/core/destination';
import { sendPrepared } from '../shared';
import { track } from './client';
import { SECRETS, configSchema, limits, type TiktokConfig } from './config';
import { requestBody, toTiktokEvent } from './transform';

export const tiktok: Destination<TiktokConfig> = {
  name: 'tiktok',
  description: 'TikTok Events API v1.3: conversions as events, deduplicated with the pixel on event_id',
  configSchema,
  capabilities: ['events'],
  limits,
  requiredConsent: ['ads'],
  // TikTok keeps one of pixel + event + event_id within 48 h.
  dedup: 'event_id',
  secrets: SECRETS,
  send(batch, ctx) {
    if (ctx.validate === true && !ctx.config.testEventCode) {
      return Promise.resolve(
        batch.map(() => ({
          status: 'rejected' as const,
          reason: 'validate mode needs testEventCode so nothing reaches live data',
          vendorCode: 'config',
        })),
      );
    }
    const prepared = batch.map((record) => toTiktokEvent(record.row, ctx.config));
    return sendPrepared(prepared, ctx.config.batchSize, (events) => track(requestBody(events, ctx.config), ctx));
  },
};

export default tiktok;
export { configSchema, type TiktokConfig } from './config';
