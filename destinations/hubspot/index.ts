/** HubSpot destination: contacts upserted in batches of 100 by email (or another unique property). */
import type { Destination } from '../../src/core/destination';
import { sendPrepared } from '../shared';
import { upsert } from './client';
import { SECRETS, configSchema, limits, type HubspotConfig } from './config';
import { toInput } from './transform';

export const hubspot: Destination<HubspotConfig> = {
  name: 'hubspot',
  description: 'HubSpot CRM: contacts batch upsert by email (date-versioned CRM API)',
  configSchema,
  capabilities: ['record_upsert'],
  limits,
  requiredConsent: [],
  // An upsert by the same id writes the same values again.
  dedup: 'idempotent',
  secrets: SECRETS,
  send(batch, ctx) {
    const prepared = batch.map((record) => toInput(record.row, ctx.config));
    return sendPrepared(prepared, ctx.config.batchSize, (inputs) => upsert(inputs, ctx));
  },
};

export default hubspot;
export { configSchema, type HubspotConfig } from './config';
