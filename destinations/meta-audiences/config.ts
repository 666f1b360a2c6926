/**
 * Meta custom audiences (users endpoint): config schema and limits in one place
 * (https://developers.facebook.com/docs/marketing-api/audiences/guides/custom-audiences/).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

/**
 * 10,000 users per request: the figure public connectors use; unverified against Meta's reference (which
 * recommends smaller batches). Lower `batchSize` if Meta refuses large payloads.
 */
export const MAX_USERS_PER_REQUEST = 10_000;

/** Hashed identifier schema sent for every member; empty strings stand for a missing identifier. */
export const SCHEMA = ['EMAIL_SHA256', 'PHONE_SHA256'] as const;

export const configSchema = z
  .object({
    /** Custom audience id for every row; or use `audiences` to map mart `audience_id` values. */
    audienceId: z.string().regex(/^\d+$/).optional(),
    /** Mart `audience_id` → Meta custom audience id. */
    audiences: z.record(z.string(), z.string().regex(/^\d+$/)).default({}),
    /** Access token with ads_management on the ad account; env META_AUDIENCES_ACCESS_TOKEN. */
    accessToken: z.string().min(1),
    apiVersion: z
      .string()
      .regex(/^v\d+\.\d+$/)
      .default('v25.0'),
    endpoint: z.url().default('https://graph.facebook.com'),
    batchSize: z.number().int().min(1).max(MAX_USERS_PER_REQUEST).default(MAX_USERS_PER_REQUEST),
    timeoutMs: z.number().int().positive().default(30_000),
  })
  .refine((c) => c.audienceId !== undefined || Object.keys(c.audiences).length > 0, {
    message: 'set audienceId, or audiences (mart audience_id → Meta audience id)',
    path: ['audienceId'],
  });

export type MetaAudiencesConfig = z.infer<typeof configSchema>;

export const SECRETS = ['META_AUDIENCES_ACCESS_TOKEN'];

export function limits(config: MetaAudiencesConfig): DestinationLimits {
  return { maxBatchSize: config.batchSize };
}
