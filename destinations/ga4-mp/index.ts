/** GA4 Measurement Protocol destination: conversions as GA4 events, validated locally against every limit. */
import type { Destination } from '../../src/core/destination';
import { sendGrouped } from '../shared';
import { sendEvents } from './client';
import { SECRETS, configSchema, limits, type Ga4Config } from './config';
import { toGa4, type Ga4Common, type Ga4Event } from './transform';

export const ga4Mp: Destination<Ga4Config> = {
  name: 'ga4-mp',
  description: 'GA4 Measurement Protocol: conversions as GA4 events (debug endpoint in validate mode)',
  configSchema,
  capabilities: ['events'],
  limits,
  requiredConsent: ['analytics'],
  // Measurement Protocol itself does no dedup; GA4 purchase reports dedupe on transaction_id only.
  dedup: 'none',
  secrets: SECRETS,
  send(batch, ctx) {
    const now = ctx.clock.now();
    const prepared = batch.map((record) => toGa4(record.row, ctx.config, now));
    const commons = new Map<string, Ga4Common>();
    for (const p of prepared) if (p.ok) commons.set(p.value.group, p.value.value.common);
    const events = prepared.map((p) =>
      p.ok ? { ok: true as const, value: { group: p.value.group, value: p.value.value.event } } : p,
    );
    return sendGrouped<Ga4Event>(events, ctx.config.batchSize, (group, list) =>
      sendEvents(commons.get(group) as Ga4Common, list, ctx),
    );
  },
};

export default ga4Mp;
export { configSchema, type Ga4Config } from './config';
