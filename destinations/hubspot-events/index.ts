/** HubSpot behavioral events destination: conversions or events as custom event occurrences on contacts. */
import type { Destination } from '../../src/core/destination';
import { sendPrepared } from '../shared';
import { sendEvents } from './client';
import { SECRETS, configSchema, limits, type HubspotEventsConfig } from './config';
import { toEventInput } from './transform';

export const hubspotEvents: Destination<HubspotEventsConfig> = {
  name: 'hubspot-events',
  description: 'HubSpot custom behavioral events: event occurrences on contacts (Enterprise)',
  configSchema,
  capabilities: ['events'],
  limits,
  requiredConsent: ['analytics'],
  // Each send records a new occurrence: a resent batch would count twice.
  dedup: 'none',
  secrets: SECRETS,
  send(batch, ctx) {
    const prepared = batch.map((record) => toEventInput(record.row, ctx.config));
    return sendPrepared(prepared, ctx.config.batchSize, (inputs) => sendEvents(inputs, ctx));
  },
};

export default hubspotEvents;
export { configSchema, type HubspotEventsConfig } from './config';
