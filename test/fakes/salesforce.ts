/**
 * Fake Salesforce REST API for sObject Collections upsert
 * (`PATCH /services/data/vXX.X/composite/sobjects/{Object}/{ExternalIdField}`). Enforces: Bearer session
 * (401 INVALID_SESSION_ID), at most 200 records (400 EXCEEDED_ID_LIMIT), one object type, unknown fields fail
 * the request (400 INVALID_FIELD); per record (200 with ordered results under allOrNone false): missing
 * required LastName on create (REQUIRED_FIELD_MISSING), an external id held by several records
 * (DUPLICATE_EXTERNAL_ID), locked rows (UNABLE_TO_LOCK_ROW). `requestLimit` makes later calls answer
 * 403 REQUEST_LIMIT_EXCEEDED. Bulk API 2.0 ingest jobs (`/jobs/ingest`): create, PUT CSV, UploadComplete, poll
 * (InProgress for `bulkPollsUntilDone` polls), then successfulResults / failedResults / unprocessedrecords as CSV; a
 * header naming an unknown field fails the whole job.
 */
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
}

interface BulkJob {
  id: string;
  object: string;
  extField: string;
  state: 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed';
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
  jobs: Map<string, unknown>;
  /** `${Object}:${externalId}` → record fields. */
  records: Map<string, Record<string, unknown>>;
  lockedExternalIds: Set<string>;
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
    if (request.path.includes('/jobs/ingest')) return handleJob(request);
    const match = /^\/services\/data\/v\d+\.\d\/composite\/sobjects\/([A-Za-z0-9_]+)\/([A-Za-z0-9_]+)$/.exec(
      request.path,
    );
    if (!match || request.method !== 'PATCH') return fail(404, 'NOT_FOUND', 'The requested resource does not exist');
    if (request.headers.authorization !== `Bearer ${token}`)
      return fail(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
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
    if (request.headers.authorization !== `Bearer ${token}`)
      return fail(401, 'INVALID_SESSION_ID', 'Session expired or invalid');
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
      job.csv += request.body;
      return { status: 201 };
    }
    if (!part && request.method === 'PATCH') {
      if ((request.json as { state?: string }).state !== 'UploadComplete')
        return fail(400, 'INVALIDJOBSTATE', 'unsupported state change');
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
  return Object.assign(server, { records, lockedExternalIds: locked, jobs });
}
