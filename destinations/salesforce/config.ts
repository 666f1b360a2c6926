/**
 * Salesforce sObject Collections upsert: config schema and limits in one place
 * (https://developer.salesforce.com/docs/atlas.en-us.api_rest.meta/api_rest/resources_composite_sobjects_collections_upsert.htm).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

/** Up to 200 records per collections request, all of one object type. */
export const MAX_RECORDS_PER_REQUEST = 200;
/** One job per send; Salesforce splits a job into internal batches of 10,000 (150 MB CSV per upload). */
export const MAX_BULK_RECORDS_PER_JOB = 100_000;
/** REQUEST_LIMIT_EXCEEDED means the org's rolling 24 h API allowance is spent: come back much later. */
export const REQUEST_LIMIT_BACKOFF_MS = 15 * 60_000;
/** INVALID_SESSION_ID: give the secret provider time to hand out a refreshed token. */
export const SESSION_BACKOFF_MS = 60_000;

export const configSchema = z.object({
  /** The org's instance URL from the OAuth response (`instance_url`), e.g. https://acme.my.salesforce.com. */
  endpoint: z.url(),
  /** OAuth 2.0 access token; env SALESFORCE_ACCESS_TOKEN. */
  accessToken: z.string().min(1),
  apiVersion: z
    .string()
    .regex(/^v\d+\.\d$/)
    .default('v68.0'),
  object: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9_]*$/)
    .default('Contact'),
  /** External id field the upsert matches on, e.g. Tagpipe_Person_Id__c. */
  externalIdField: z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/),
  /** Columns sent as fields (after the sync's field mapping); default: every column. */
  fields: z.array(z.string().min(1)).optional(),
  batchSize: z.number().int().min(1).max(MAX_RECORDS_PER_REQUEST).default(MAX_RECORDS_PER_REQUEST),
  /**
   * Batches of at least this many records go through Bulk API 2.0 (one job each) instead of collections; the
   * sync then hands over up to `bulkBatchSize` records at once. 0 = collections only.
   */
  bulkThreshold: z.number().int().min(0).default(0),
  bulkBatchSize: z.number().int().min(1).max(MAX_BULK_RECORDS_PER_JOB).default(10_000),
  bulkPollIntervalMs: z.number().int().positive().default(5_000),
  bulkTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(10 * 60_000),
  timeoutMs: z.number().int().positive().default(30_000),
});

export type SalesforceConfig = z.infer<typeof configSchema>;

export const SECRETS = ['SALESFORCE_ACCESS_TOKEN'];

export function limits(config: SalesforceConfig): DestinationLimits {
  return {
    maxBatchSize: config.bulkThreshold > 0 ? Math.max(config.batchSize, config.bulkBatchSize) : config.batchSize,
  };
}
