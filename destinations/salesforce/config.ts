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
/**
 * Bulk API 2.0 upload: "CSV data that does not in total exceed 150 MB of base64 encoded content"; base64 adds about
 * 50%, so Salesforce advises at most 100 MB of CSV per job. Larger batches are split over several jobs.
 */
export const MAX_BULK_UPLOAD_BYTES = 100_000_000;
/** Bulk API 2.0 ingest limit: "Maximum number of characters in a record: 400,000". */
export const MAX_BULK_RECORD_CHARS = 400_000;
/** The default OAuth token endpoint (production orgs); sandboxes use test.salesforce.com, or the org's My Domain. */
export const LOGIN_TOKEN_URL = 'https://login.salesforce.com/services/oauth2/token';

/**
 * How tagpipe gets a new access token when Salesforce answers 401 INVALID_SESSION_ID (and the first one, when no
 * `accessToken` is given). Secrets come from the environment (`${ENV}` in tagpipe.yaml; on Cloud Run, Secret
 * Manager secrets mounted as environment variables).
 */
const tokenUrl = z.url().default(LOGIN_TOKEN_URL);
export const authSchema = z.discriminatedUnion('flow', [
  /** Web-server / user-agent flow tokens: refresh_token grant. */
  z.object({
    flow: z.literal('refresh_token'),
    clientId: z.string().min(1),
    /** Needed when the connected app requires the secret for the refresh token flow (the default). */
    clientSecret: z.string().min(1).optional(),
    refreshToken: z.string().min(1),
    tokenUrl,
  }),
  /** Client credentials flow: the connected app's "Run As" user; the token URL must be the org's My Domain. */
  z.object({
    flow: z.literal('client_credentials'),
    clientId: z.string().min(1),
    clientSecret: z.string().min(1),
    tokenUrl: z
      .url()
      .refine((u) => !u.startsWith('https://login.salesforce.com') && !u.startsWith('https://test.salesforce.com'), {
        message:
          'the client credentials flow needs the My Domain token URL, e.g. https://acme.my.salesforce.com/services/oauth2/token',
      }),
  }),
  /** JWT bearer flow: a certificate uploaded to the connected app, its private key here, a pre-authorized user. */
  z.object({
    flow: z.literal('jwt_bearer'),
    clientId: z.string().min(1),
    username: z.string().min(1),
    /** PEM private key (newlines may be written as \n). */
    privateKey: z.string().min(1),
    /** https://login.salesforce.com, https://test.salesforce.com (sandboxes) or the My Domain URL. */
    audience: z.url().default('https://login.salesforce.com'),
    tokenUrl,
  }),
]);
export type SalesforceAuth = z.infer<typeof authSchema>;

export const configSchema = z
  .object({
    /** The org's instance URL from the OAuth response (`instance_url`), e.g. https://acme.my.salesforce.com. */
    endpoint: z.url(),
    /** OAuth 2.0 access token; env SALESFORCE_ACCESS_TOKEN. Optional with `auth`, which fetches one. */
    accessToken: z.string().min(1).optional(),
    /** How to renew the access token (refresh_token, client_credentials or jwt_bearer). */
    auth: authSchema.optional(),
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
    /** CSV bytes per Bulk API job (tests lower it). */
    bulkMaxUploadBytes: z.number().int().min(1024).max(MAX_BULK_UPLOAD_BYTES).default(MAX_BULK_UPLOAD_BYTES),
    timeoutMs: z.number().int().positive().default(30_000),
  })
  // `when`: checked even when other fields fail, so a config missing every credential still runs dry.
  .refine((config) => Boolean(config.accessToken || config.auth), {
    path: ['accessToken'],
    message: 'set accessToken (SALESFORCE_ACCESS_TOKEN) or auth, so tagpipe can obtain one',
    when: () => true,
  });

export type SalesforceConfig = z.infer<typeof configSchema>;

export const SECRETS = [
  'SALESFORCE_ACCESS_TOKEN',
  'SALESFORCE_CLIENT_SECRET',
  'SALESFORCE_REFRESH_TOKEN',
  'SALESFORCE_PRIVATE_KEY',
];

export function limits(config: SalesforceConfig): DestinationLimits {
  return {
    maxBatchSize: config.bulkThreshold > 0 ? Math.max(config.batchSize, config.bulkBatchSize) : config.batchSize,
  };
}
