/** Google Ads destination through the Data Manager API: conversions (events:ingest) and Customer Match members. */
import type { Destination, Outcome } from '../../src/core/destination';
import { sendGrouped, sendPrepared } from '../shared';
import { post } from './client';
import { SECRETS, configSchema, limits, type GoogleAdsConfig } from './config';
import { verifyRequests } from './status';
import { eventsBody, membersBody, toEvent, toMember, type DmMember } from './transform';

export const googleAds: Destination<GoogleAdsConfig> = {
  name: 'google-ads',
  description: 'Google Ads via the Data Manager API: offline conversions and Customer Match audiences',
  configSchema,
  capabilities: ['events', 'audience_add', 'audience_remove'],
  limits,
  requiredConsent: ['ads'],
  // Conversions deduplicate on transactionId; audience adds and removes are idempotent.
  dedup: 'event_id',
  secrets: SECRETS,
  async send(batch, ctx) {
    const validateOnly = ctx.validate === true;
    const eventAt = batch.flatMap((r, i) => (r.action === 'send' ? [i] : []));
    const memberAt = batch.flatMap((r, i) => (r.action !== 'send' ? [i] : []));
    const events = eventAt.map((i) => batch[i]);
    const members = memberAt.map((i) => batch[i]);
    const outcomes: Outcome[] = new Array<Outcome>(batch.length);

    if (events.length > 0) {
      const results = ctx.config.conversionActionId
        ? await sendPrepared(
            events.map((r) => toEvent(r.row)),
            ctx.config.batchSize,
            (list) => post('/v1/events:ingest', eventsBody(list, ctx.config, validateOnly), list.length, ctx),
          )
        : events.map((): Outcome => ({
            status: 'rejected',
            reason: 'conversionActionId is not configured',
            vendorCode: 'config',
          }));
      eventAt.forEach((at, i) => (outcomes[at] = results[i]));
    }
    if (members.length > 0) {
      const results = await sendGrouped<DmMember>(
        members.map((r) => toMember(r, ctx.config)),
        ctx.config.audienceBatchSize,
        (group, list) => {
          const [action, listId] = group.split(' ') as ['add' | 'remove', string];
          const path = action === 'add' ? '/v1/audienceMembers:ingest' : '/v1/audienceMembers:remove';
          return post(path, membersBody(list, listId, action, ctx.config, validateOnly), list.length, ctx);
        },
      );
      memberAt.forEach((at, i) => (outcomes[at] = results[i]));
    }
    return outcomes;
  },
  // Data Manager processes accepted requests later: the run reads back what became of each one.
  verify(requestIds, ctx) {
    if (!ctx.config.verify || ctx.dryRun || ctx.validate) return Promise.resolve([]);
    return verifyRequests(requestIds, ctx);
  },
};

export default googleAds;
export { configSchema, type GoogleAdsConfig } from './config';
