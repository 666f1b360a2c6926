/**
 * Fake Salesforce REST API for sObject Collections upsert
 * (`PATCH /services/data/vXX.X/composite/sobjects/{Object}/{ExternalIdField}`). Enforces: Bearer session
 * (401 INVALID_SESSION_ID), at most 200 records (400 EXCEEDED_ID_LIMIT), one object type, unknown fields fail
 * the request (400 INVALID_FIELD); per record (200 with ordered results under allOrNone false): missing
 * required LastName on create (REQUIRED_FIELD_MISSING), an external id held by several records
 * (DUPLICATE_EXTERNAL_ID), locked rows (UNABLE_TO_LOCK_ROW). `requestLimit` makes later calls answer
 * 403 REQUEST_LIMIT_EXCEEDED. Bulk API 2.0 ingest jobs (`/jobs/ingest`): create, PUT CSV, UploadComplete, poll
 * (InProgress for `bulkPollsUntilDone` polls), then successfulResults / failedResults / unprocessedrecords as CSV; a
 * header naming an unknown field fails the whole job; an upload over `maxUploadBytes` (100 MB of CSV, the advised
 * size under the 150 MB base64 limit) is refused; an open or running job can be Aborted.
 * OAuth (`POST /services/oauth2/token`, form-encoded): refresh_token, client_credentials and the JWT bearer grant
 * (RS256 verified with `oauth.publicKey`; iss, sub, aud and exp checked), answering `{ access_token, instance_url,
 * … }` or 400 `{ error, error_description }`. Sessions expire: after `sessionRequests` API calls each, or all at
 * once with `expireSessions()`; an expired or unknown token gets 401 INVALID_SESSION_ID.
 */
import { createVerify, randomBytes } from 'node:crypto';
import { parseCsv, toCsv } from '../../destinations/salesforce/csv';
import {
  startFakeServer,
  type FakeResponse,
  type FakeServer,
  type FakeServerOptions,
  type RecordedRequest,
} from './server';

export interface FakeSalesforceOptions extends FakeServerOptions {
  accessToken?: string;
  maxRecords?: number;
  /** Fields that exist on the object (besides Id and the external id field). */
  knownFields?: string[];
  /** External ids matching more than one record. */
  duplicateExternalIds?: string[];
  /** External ids whose rows are locked by another transaction. */
  lockedExternalIds?: string[];
  /** Requests allowed before REQUEST_LIMIT_EXCEEDED. */
  requestLimit?: number;
  /** Bulk jobs report InProgress for this many polls before completing (default 1). */
  bulkPollsUntilDone?: number;
  /** Largest CSV upload per job in bytes (default 100,000,000). */
  maxUploadBytes?: number;
  /** A session (access token) stops working after this many API calls (default: never). */
  sessionRequests?: number;
  /** The fake's "now" for JWT expiry checks (default: the wall clock). */
  now?: () => Date;
  /** The connected app and user the token endpoint accepts. */
  oauth?: {
    clientId: string;
    clientSecret?: string;
    refreshToken?: string;
    /** PEM public key of the certificate uploaded for the JWT bearer flow. */
    publicKey?: string;
    username?: string;
  };
}

/** Audiences Salesforce accepts in a JWT bearer assertion. */
const JWT_AUDIENCES = ['https://login.salesforce.com', 'https://test.salesforce.com'];

interface BulkJob {
  id: string;
  object: string;
  extField: string;
  state: 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
  csv: string;
  polls: number;
  errorMessage?: string;
  success: Record<string, string>[];
  failed: Record<string, string>[];
  unprocessed: Record<string, string>[];
}

function csvOf(rows: Record<string, string>[]): string {
  if (rows.length === 0) return '';
  const columns = Object.keys(rows[0]);
  return toCsv(columns, rows);
}

export interface FakeSalesforce extends FakeServer {
  /** Bulk API 2.0 jobs by id. */
  jobs: Map<string, { state: string; csv: string }>;
  /** `${Object}:${externalId}` → record fields. */
  records: Map<string, Record<string, unknown>>;
  lockedExternalIds: Set<string>;
  /** Grant types of the token requests answered with a token, in order. */
  grants: string[];
  /** Every session issued so far stops working (as when they time out). */
  expireSessions(): void;
}

const DEFAULT_FIELDS = [
  'FirstName',
  'LastName',
  'Email',
  'Phone',
  'Lifetime_Value__c',
  'Purchase_Count__c',
  'Last_Seen_At__c',
];

export async function startFakeSalesforce(options: FakeSalesforceOptions = {}): Promise<FakeSalesforce> {
  const token = options.accessToken ?? 'test-token';
  const maxRecords = options.maxRecords ?? 200;
  const known = new Set(options.knownFields ?? DEFAULT_FIELDS);
  const duplicates = new Set(options.duplicateExternalIds ?? []);
  const locked = new Set(options.lockedExternalIds ?? []);
  const records = new Map<string, Record<string, unknown>>();
  let calls = 0;
  let nextId = 1;
  const fail = (status: number, errorCode: string, message: string): FakeResponse => ({
    status,
    body: [{ message, errorCode }],
  });

  /** Live sessions: token → API calls made with it; expired tokens are removed. */
  const sessions = new Map<string, number>([[token, 0]]);
  const grants: string[] = [];
  let url = '';
  /** The session check every API call passes: undefined when the token is live (and counts the call). */
  const unauthorized = (request: RecordedRequest): FakeResponse | undefined => {
    const bearer = /^Bearer (.+)$/.exec(request.headers.authorization ?? '')?.[1];
    const used = bearer === undefined ? undefined : sessions.get(bearer);
    if (bearer === undefined || used === undefined)
      return fail(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
    if (options.sessionRequests !== undefined && used >= options.sessionRequests) {
      sessions.delete(bearer);
      return fail(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
    }
    sessions.set(bearer, used + 1);
    return undefined;
  };

  const oauthError = (error: string, description: string): FakeResponse => ({
    status: 400,
    body: { error, error_description: description },
  });

  /** POST /services/oauth2/token. */
  const issueToken = (request: RecordedRequest): FakeResponse => {
    const form = Object.fromEntries(new URLSearchParams(request.body));
    const app = options.oauth;
    if (!app) return oauthError('invalid_client_id', 'client identifier invalid');
    const grant = form.grant_type;
    if (grant === 'refresh_token' || grant === 'client_credentials') {
      if (form.client_id !== app.clientId) return oauthError('invalid_client_id', 'client identifier invalid');
      if ((grant === 'client_credentials' || app.clientSecret) && form.client_secret !== app.clientSecret)
        return oauthError('invalid_client', 'invalid client credentials');
      if (grant === 'refresh_token' && (!app.refreshToken || form.refresh_token !== app.refreshToken))
        return oauthError('invalid_grant', 'expired access/refresh token');
    } else if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const [header, claims, signature] = (form.assertion ?? '').split('.');
      const valid =
        app.publicKey !== undefined &&
        signature !== undefined &&
        createVerify('RSA-SHA256').update(`${header}.${claims}`).verify(app.publicKey, signature, 'base64url');
      if (!valid) return oauthError('invalid_grant', 'invalid assertion');
      const c = JSON.parse(Buffer.from(claims, 'base64url').toString('utf8')) as Record<string, unknown>;
      if (c.iss !== app.clientId) return oauthError('invalid_client_id', 'client identifier invalid');
      if (!JWT_AUDIENCES.includes(String(c.aud))) return oauthError('invalid_grant', 'audience is invalid');
      const exp = Number(c.exp) * 1000;
      const now = (options.now ?? (() => new Date()))().getTime();
      if (!(exp > now) || exp > now + 5 * 60_000) return oauthError('invalid_grant', 'expired authorization code');
      if (c.sub !== app.username) return oauthError('invalid_grant', "user hasn't approved this consumer");
    } else return oauthError('unsupported_grant_type', 'grant type not supported');
    const accessToken = `00D000000000001!${randomBytes(12).toString('hex')}`;
    sessions.set(accessToken, 0);
    grants.push(grant);
    return {
      status: 200,
      body: {
        access_token: accessToken,
        instance_url: url,
        id: `${url}/id/00D000000000001/005000000000001`,
        token_type: 'Bearer',
        issued_at: String(Date.now()),
        signature: randomBytes(16).toString('base64'),
        scope: 'api',
      },
    };
  };

  /** The per-record upsert shared by collections and bulk jobs. */
  const upsertOne = (object: string, extField: string, record: Record<string, unknown>) => {
    const extId = record[extField];
    const error = (statusCode: string, message: string, fields: string[] = []) => ({
      success: false as const,
      errors: [{ statusCode, message, fields }],
    });
    if (typeof extId !== 'string' || extId === '')
      return error('MISSING_ARGUMENT', `${extField} not specified`, [extField]);
    if (duplicates.has(extId))
      return error('DUPLICATE_EXTERNAL_ID', `${object}: more than one record found for external id field: [${extId}]`);
    if (locked.has(extId)) return error('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record');
    const key = `${object}:${extId}`;
    const existing = records.get(key);
    if (!existing && object === 'Contact' && typeof record.LastName !== 'string') {
      return error('REQUIRED_FIELD_MISSING', 'Required fields are missing: [LastName]', ['LastName']);
    }
    const { attributes: _attributes, ...fields } = record;
    const id = (existing?.Id as string | undefined) ?? `003${String(nextId++).padStart(15, '0')}`;
    records.set(key, { ...(existing ?? {}), ...fields, Id: id });
    return { id, success: true as const, errors: [], created: !existing };
  };

  const handle = (request: RecordedRequest): FakeResponse => {
    if (request.path === '/services/oauth2/token' && request.method === 'POST') return issueToken(request);
    if (request.path.includes('/jobs/ingest')) return handleJob(request);
    const match = /^\/services\/data\/v\d+\.\d\/composite\/sobjects\/([A-Za-z0-9_]+)\/([A-Za-z0-9_]+)$/.exec(
      request.path,
    );
    if (!match || request.method !== 'PATCH') return fail(404, 'NOT_FOUND', 'The requested resource does not exist');
    const denied = unauthorized(request);
    if (denied) return denied;
    calls += 1;
    if (options.requestLimit !== undefined && calls > options.requestLimit)
      return fail(403, 'REQUEST_LIMIT_EXCEEDED', 'TotalRequests Limit exceeded.');
    const [, object, extField] = match;
    const body = request.json as { allOrNone?: boolean; records?: Record<string, unknown>[] } | undefined;
    if (!body || !Array.isArray(body.records)) return fail(400, 'JSON_PARSER_ERROR', 'records is required');
    if (body.records.length > maxRecords)
      return fail(
        400,
        'EXCEEDED_ID_LIMIT',
        `record limit reached. cannot submit more than ${maxRecords} records into this call`,
      );
    for (const record of body.records) {
      const type = (record.attributes as { type?: string } | undefined)?.type;
      if (type !== object) return fail(400, 'INVALID_TYPE', `all records must be of type ${object}`);
      for (const field of Object.keys(record)) {
        if (field !== 'attributes' && field !== extField && !known.has(field)) {
          return fail(400, 'INVALID_FIELD', `No such column '${field}' on sobject of type ${object}`);
        }
      }
    }
    const results = body.records.map((record) => upsertOne(object, extField, record));
    return { status: 200, body: results };
  };
  /** Bulk API 2.0 ingest jobs: create, upload CSV, UploadComplete, poll, results as CSV. */
  const jobs = new Map<string, BulkJob>();
  const handleJob = (request: RecordedRequest): FakeResponse => {
    const denied = unauthorized(request);
    if (denied) return denied;
    const match =
      /^\/services\/data\/v\d+\.\d\/jobs\/ingest(?:\/([^/]+))?(?:\/(batches|successfulResults|failedResults|unprocessedrecords))?\/?$/.exec(
        request.path,
      );
    if (!match) return fail(404, 'NOT_FOUND', 'The requested resource does not exist');
    const [, id, part] = match;
    if (!id && request.method === 'POST') {
      const spec = request.json as {
        object?: string;
        externalIdFieldName?: string;
        operation?: string;
        contentType?: string;
      };
      if (spec.operation !== 'upsert' || !spec.externalIdFieldName || !spec.object || spec.contentType !== 'CSV') {
        return fail(400, 'INVALIDJOB', 'InvalidJob : upsert needs object, externalIdFieldName and contentType CSV');
      }
      const job: BulkJob = {
        id: `750${String(jobs.size + 1).padStart(15, '0')}`,
        object: spec.object,
        extField: spec.externalIdFieldName,
        state: 'Open',
        csv: '',
        polls: 0,
        success: [],
        failed: [],
        unprocessed: [],
      };
      jobs.set(job.id, job);
      return {
        status: 200,
        body: { id: job.id, state: 'Open', object: job.object, operation: 'upsert', externalIdFieldName: job.extField },
      };
    }
    const job = id ? jobs.get(id) : undefined;
    if (!job) return fail(404, 'NOT_FOUND', 'job not found');
    if (part === 'batches' && request.method === 'PUT') {
      if (job.state !== 'Open') return fail(400, 'INVALIDJOBSTATE', 'Job is not open');
      const limit = options.maxUploadBytes ?? 100_000_000;
      if (Buffer.byteLength(job.csv + request.body) > limit)
        return fail(400, 'EXCEEDED_MAX_SIZE_REQUEST', `job data exceeds the maximum of ${limit} bytes`);
      job.csv += request.body;
      return { status: 201 };
    }
    if (!part && request.method === 'PATCH') {
      const wanted = (request.json as { state?: string }).state;
      if (wanted === 'Aborted' && ['Open', 'UploadComplete', 'InProgress'].includes(job.state)) {
        job.state = 'Aborted';
        return { status: 200, body: { id: job.id, state: job.state } };
      }
      if (wanted !== 'UploadComplete' || job.state !== 'Open')
        return fail(400, 'INVALIDJOBSTATE', `cannot change a job in state ${job.state} to ${String(wanted)}`);
      job.state = 'UploadComplete';
      return { status: 200, body: { id: job.id, state: job.state } };
    }
    if (!part && request.method === 'GET') {
      if (job.state === 'UploadComplete' || job.state === 'InProgress') {
        job.polls += 1;
        if (job.polls <= (options.bulkPollsUntilDone ?? 1)) job.state = 'InProgress';
        else runJob(job);
      }
      return {
        status: 200,
        body: {
          id: job.id,
          state: job.state,
          numberRecordsProcessed: job.success.length + job.failed.length,
          numberRecordsFailed: job.failed.length,
          ...(job.errorMessage ? { errorMessage: job.errorMessage } : {}),
        },
      };
    }
    if (part && request.method === 'GET' && job.state === 'JobComplete') {
      const rows = part === 'successfulResults' ? job.success : part === 'failedResults' ? job.failed : job.unprocessed;
      return { status: 200, headers: { 'content-type': 'text/csv' }, body: csvOf(rows) };
    }
    return fail(400, 'INVALIDJOBSTATE', `cannot ${request.method} ${part ?? 'job'} in state ${job.state}`);
  };

  const runJob = (job: BulkJob) => {
    const rows = parseCsv(job.csv);
    const header = job.csv.split('\n')[0].split(',');
    const unknown = header.find((field) => field !== job.extField && !known.has(field));
    if (unknown) {
      job.state = 'Failed';
      job.errorMessage = `InvalidBatch : Field name not found : ${unknown}`;
      return;
    }
    for (const row of rows) {
      const record: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(row))
        if (v !== '') record[k] = k.endsWith('_Count__c') || k.endsWith('_Value__c') ? Number(v) : v;
      const result = upsertOne(job.object, job.extField, record);
      if (result.success) job.success.push({ sf__Id: result.id, sf__Created: String(result.created), ...row });
      else {
        const e = result.errors[0];
        job.failed.push({ sf__Id: '', sf__Error: `${e.statusCode}:${e.message}:${e.fields.join(',')}`, ...row });
      }
    }
    job.state = 'JobComplete';
  };

  const server = await startFakeServer(handle, options);
  url = server.url;
  return Object.assign(server, {
    records,
    lockedExternalIds: locked,
    jobs,
    grants,
    expireSessions: () => sessions.clear(),
  });
}
