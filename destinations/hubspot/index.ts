/** HubSpot destination: contacts upserted in batches of 100 by email (or another unique property). */
import type { Destination, Outcome } from '../../src/core/destination';
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
  async send(batch, ctx) {
    // HubSpot refuses a whole batch that names one id twice: a second row for the same contact is retried later,
    // alone, when it becomes a plain update.
    const seen = new Set<string>();
    const duplicate: boolean[] = [];
    const prepared = batch.map((record) => {
      const input = toInput(record.row, ctx.config);
      duplicate.push(input.ok && seen.has(input.value.id));
      if (input.ok) seen.add(input.value.id);
      return input;
    });
    const firsts = await sendPrepared(
      prepared.filter((_, i) => !duplicate[i]),
      ctx.config.batchSize,
      (inputs) => upsert(inputs, ctx),
    );
    let next = 0;
    return prepared.map((input, i): Outcome =>
      duplicate[i] && input.ok
        ? { status: 'retry', reason: `another row in this batch upserts ${input.value.idProperty} ${input.value.id}` }
        : firsts[next++],
    );
  },
};

export default hubspot;
export { configSchema, type HubspotConfig } from './config';
