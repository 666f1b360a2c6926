/**
 * HubSpot CRM contacts batch upsert: config schema and limits in one place
 * (https://developers.hubspot.com/docs/api-reference/crm-contacts-v3/batch/post-crm-v3-objects-contacts-batch-upsert,
 * https://developers.hubspot.com/docs/developer-tooling/platform/usage-guidelines).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

/** 100 inputs per batch request. */
export const MAX_INPUTS_PER_REQUEST = 100;
/** Private apps: 190 requests per 10 s (Professional and Enterprise), account-wide. */
export const REQUESTS_PER_10_SECONDS = 190;
/** Daily limit hit: nothing more today, so wait long before the next try. */
export const DAILY_LIMIT_BACKOFF_MS = 3600_000;

export const configSchema = z.object({
  /** Private app access token; env HUBSPOT_ACCESS_TOKEN. */
  accessToken: z.string().min(1),
  endpoint: z.url().default('https://api.hubapi.com'),
  /** Date-versioned CRM API path segment (numbered v3 paths are unsupported from Sept 2027). */
  apiVersion: z
    .string()
    .regex(/^\d{4}-\d{2}$/)
    .default('2026-03'),
  /** Unique property that identifies the contact. */
  idProperty: z.string().min(1).default('email'),
  /** Columns sent as properties (after the sync's field mapping); default: every column except the id. */
  properties: z.array(z.string().min(1)).optional(),
  batchSize: z.number().int().min(1).max(MAX_INPUTS_PER_REQUEST).default(MAX_INPUTS_PER_REQUEST),
  timeoutMs: z.number().int().positive().default(15_000),
});

export type HubspotConfig = z.infer<typeof configSchema>;

export const SECRETS = ['HUBSPOT_ACCESS_TOKEN'];

export function limits(config: HubspotConfig): DestinationLimits {
  return { maxBatchSize: config.batchSize, requestsPerSecond: REQUESTS_PER_10_SECONDS / 10 };
}
