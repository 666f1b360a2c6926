/** Meta Conversions API destination: conversions → server events, deduplicated with the pixel on event_id. */
import type { Destination } from '../../src/core/destination';
import { sendPrepared } from '../shared';
import { postEvents } from './client';
import { SECRETS, configSchema, limits, type MetaCapiConfig } from './config';
import { requestBody, toServerEvent } from './transform';

export const metaCapi: Destination<MetaCapiConfig> = {
  name: 'meta-capi',
  description: 'Meta Conversions API: conversions as server events, deduplicated with the pixel on event_id',
  configSchema,
  capabilities: ['events'],
  limits,
  requiredConsent: ['ads'],
  // Meta keeps the first of (event_name, event_id) within 48 h, so a resent batch does no harm.
  dedup: 'event_id',
  secrets: SECRETS,
  async send(batch, ctx) {
    const validate = ctx.validate === true;
    if (validate && !ctx.config.testEventCode) {
      return batch.map(() => ({
        status: 'rejected',
        reason: 'validate mode needs testEventCode (Events Manager → Test Events) so nothing reaches live data',
        vendorCode: 'config',
      }));
    }
    const now = ctx.clock.now();
    const prepared = batch.map((record) => toServerEvent(record.row, ctx.config, now));
    return sendPrepared(prepared, ctx.config.batchSize, (events) => postEvents(requestBody(events, ctx.config), ctx));
  },
};

export default metaCapi;
export { configSchema, type MetaCapiConfig } from './config';
