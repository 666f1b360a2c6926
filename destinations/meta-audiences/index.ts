/** Meta custom audiences destination: audience members added and removed by hashed email and phone. */
import type { Destination } from '../../src/core/destination';
import { sendGrouped } from '../shared';
import { sendMembers } from './client';
import { SECRETS, configSchema, limits, type MetaAudiencesConfig } from './config';
import { parseTargetKey, toMember } from './transform';

export const metaAudiences: Destination<MetaAudiencesConfig> = {
  name: 'meta-audiences',
  description: 'Meta custom audiences: add and remove members by hashed email and phone',
  configSchema,
  capabilities: ['audience_add', 'audience_remove'],
  limits,
  requiredConsent: ['ads', 'ad_personalization'],
  // Adding a present member or removing an absent one changes nothing.
  dedup: 'idempotent',
  secrets: SECRETS,
  send(batch, ctx) {
    const prepared = batch.map((record) => toMember(record, ctx.config));
    return sendGrouped(prepared, ctx.config.batchSize, (group, members) =>
      sendMembers(parseTargetKey(group), members, ctx),
    );
  },
};

export default metaAudiences;
export { configSchema, type MetaAudiencesConfig } from './config';
