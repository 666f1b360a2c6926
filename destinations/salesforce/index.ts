/** Salesforce destination: records upserted by external id through sObject Collections (200 per request). */
import type { Destination } from '../../src/core/destination';
import { sendPrepared } from '../shared';
import { upsertRecords } from './client';
import { SECRETS, configSchema, limits, type SalesforceConfig } from './config';
import { toRecord } from './transform';

export const salesforce: Destination<SalesforceConfig> = {
  name: 'salesforce',
  description: 'Salesforce: upsert by external id with sObject Collections (allOrNone false, per-record results)',
  configSchema,
  capabilities: ['record_upsert'],
  limits,
  requiredConsent: [],
  dedup: 'idempotent',
  secrets: SECRETS,
  send(batch, ctx) {
    const prepared = batch.map((record) => toRecord(record.row, ctx.config));
    return sendPrepared(prepared, ctx.config.batchSize, (records) => upsertRecords(records, ctx));
  },
};

export default salesforce;
export { configSchema, type SalesforceConfig } from './config';
