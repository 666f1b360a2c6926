/** Salesforce destination: records upserted by external id through sObject Collections (200 per request). */
import type { Destination } from '../../src/core/destination';
import { sendPrepared } from '../shared';
import { bulkUpsert } from './bulk';
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
    const { bulkThreshold, bulkBatchSize, batchSize } = ctx.config;
    const sendable = prepared.filter((p) => p.ok).length;
    if (bulkThreshold > 0 && sendable >= bulkThreshold)
      return sendPrepared(prepared, bulkBatchSize, (records) => bulkUpsert(records, ctx));
    return sendPrepared(prepared, batchSize, (records) => upsertRecords(records, ctx));
  },
};

export default salesforce;
export { configSchema, type SalesforceConfig } from './config';
