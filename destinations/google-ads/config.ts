/**
 * Google Ads through the Data Manager API (conversions and Customer Match): config schema and limits in one place
 * (https://developers.google.com/data-manager/api/reference/rest/v1/events/ingest,
 * https://developers.google.com/data-manager/api/reference/rest/v1/audienceMembers/ingest).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';

/** "At most 2000 Event resources can be sent in a single request." */
export const MAX_EVENTS_PER_REQUEST = 2000;
/** "At most 10000 AudienceMember resources can be sent in a single request" (ingest and remove). */
export const MAX_MEMBERS_PER_REQUEST = 10_000;
/** RESOURCE_EXHAUSTED without Retry-After. */
export const QUOTA_BACKOFF_MS = 60_000;
/**
 * Per Google Cloud project: 300 requests a minute for IngestionService writes, and separately 300 a minute for
 * reads such as requestStatus:retrieve (https://developers.google.com/data-manager/api/devguides/limits).
 */
export const REQUESTS_PER_MINUTE = 300;
/** requestStatus polling: first wait, then doubling up to the cap, until `verifyTimeoutMs`. */
export const STATUS_BACKOFF_BASE_MS = 5_000;
export const STATUS_BACKOFF_CAP_MS = 60_000;

const accountId = z.string().regex(/^\d+$/, 'account ids are digits only (no dashes)');

/** The OAuth scope of every Data Manager method (https://developers.google.com/data-manager/api/reference/rest). */
export const DATA_MANAGER_SCOPE = 'https://www.googleapis.com/auth/datamanager';
/**
 * Access tokens are renewed this long before they expire (Google's last for an hour), so no request leaves with a
 * token that lapses in flight; the same margin google-auth-library uses.
 */
export const TOKEN_REFRESH_MARGIN_MS = 5 * 60_000;

export const configSchema = z
  .object({
    /**
     * A fixed OAuth 2.0 access token (scope datamanager; env GOOGLE_DATA_MANAGER_ACCESS_TOKEN), for tests and proxies
     * that hold the credentials. It cannot be renewed: Google's expire after an hour.
     */
    accessToken: z.string().min(1).optional(),
    /**
     * A service account key (the JSON file's text; env GOOGLE_DATA_MANAGER_SERVICE_ACCOUNT_KEY, on Cloud Run a Secret
     * Manager secret). Tokens come from the key's `token_uri` with the JWT bearer grant.
     */
    serviceAccountKey: z.string().min(1).optional(),
    /**
     * Application Default Credentials with the datamanager scope: on Cloud Run the job's service account, locally
     * `gcloud auth application-default login` or GOOGLE_APPLICATION_CREDENTIALS. An explicit choice, so that a
     * config naming no credentials at all runs dry (requests to the outbox) like every other destination.
     */
    applicationDefaultCredentials: z.boolean().default(false),
    endpoint: z.url().default('https://datamanager.googleapis.com'),
    /** The Google Ads customer receiving the data. */
    operatingAccountId: accountId,
    /** The manager account the credentials belong to, when acting through one. */
    loginAccountId: accountId.optional(),
    accountType: z
      .enum(['GOOGLE_ADS', 'DISPLAY_VIDEO_ADVERTISER', 'DISPLAY_VIDEO_PARTNER', 'DATA_PARTNER'])
      .default('GOOGLE_ADS'),
    /** Conversion action id (product destination) for conversions. */
    conversionActionId: z.string().min(1).optional(),
    /** Customer Match user list id for every audience row; or `audiences` to map mart `audience_id` values. */
    userListId: z.string().min(1).optional(),
    audiences: z.record(z.string(), z.string().min(1)).default({}),
    /** Customer Match terms of service must be accepted in Google Ads; sent with every audience upload. */
    customerMatchTermsAccepted: z.boolean().default(true),
    batchSize: z.number().int().min(1).max(MAX_EVENTS_PER_REQUEST).default(MAX_EVENTS_PER_REQUEST),
    audienceBatchSize: z.number().int().min(1).max(MAX_MEMBERS_PER_REQUEST).default(MAX_MEMBERS_PER_REQUEST),
    timeoutMs: z.number().int().positive().default(30_000),
    /**
     * After a run, read `requestStatus:retrieve` for every request id it got back and record what Google made of
     * each request (success, partial, failure and the reasons).
     */
    verify: z.boolean().default(true),
    /**
     * How long the run waits for requests still PROCESSING; the rest are checked again on the next run. 0: one look.
     * Short by default: the run holds the warehouse (locally, DuckDB's single writer) while it waits.
     */
    verifyTimeoutMs: z.number().int().min(0).default(60_000),
    /** requestStatus reads per minute, below the project's 300 read quota (shared with other readers). */
    statusRequestsPerMinute: z.number().int().min(1).max(REQUESTS_PER_MINUTE).default(240),
  })
  .superRefine((c, ctx) => {
    const sources = [c.accessToken, c.serviceAccountKey, c.applicationDefaultCredentials || undefined];
    const chosen = sources.filter((s) => s !== undefined).length;
    if (chosen > 1)
      ctx.addIssue({
        code: 'custom',
        path: ['serviceAccountKey'],
        message: 'choose one of accessToken, serviceAccountKey and applicationDefaultCredentials',
      });
    // Reported on accessToken, a plain string: with no credentials named, the sync engine fills the absent field
    // with a placeholder and runs dry.
    if (chosen === 0)
      ctx.addIssue({
        code: 'custom',
        path: ['accessToken'],
        message:
          'no credentials: set applicationDefaultCredentials: true (Cloud Run), serviceAccountKey or accessToken',
      });
    const problem = c.serviceAccountKey === undefined ? undefined : keyProblem(c.serviceAccountKey);
    if (problem) ctx.addIssue({ code: 'custom', path: ['serviceAccountKey'], message: problem });
  });

/** The fields of a service account key file this destination uses. */
export interface ServiceAccountKey {
  type: 'service_account';
  client_email: string;
  private_key: string;
  private_key_id?: string;
  token_uri?: string;
}

/** Why `text` is not a service account key file (the secret's value is the whole JSON file), or undefined. */
function keyProblem(text: string): string | undefined {
  let key: unknown;
  try {
    key = JSON.parse(text);
  } catch {
    return 'expected the JSON key file of a service account (gcloud iam service-accounts keys create), not valid JSON';
  }
  const k = (key ?? {}) as Record<string, unknown>;
  if (k.type !== 'service_account')
    return `expected a key file with "type": "service_account" (got ${JSON.stringify(k.type)})`;
  for (const field of ['client_email', 'private_key'])
    if (typeof k[field] !== 'string' || k[field] === '') return `the key file has no ${field}`;
  return undefined;
}

export type GoogleAdsConfig = z.infer<typeof configSchema>;

export const SECRETS = ['GOOGLE_DATA_MANAGER_SERVICE_ACCOUNT_KEY', 'GOOGLE_DATA_MANAGER_ACCESS_TOKEN'];

export function limits(config: GoogleAdsConfig): DestinationLimits {
  return { maxBatchSize: config.batchSize, requestsPerSecond: REQUESTS_PER_MINUTE / 60 };
}
