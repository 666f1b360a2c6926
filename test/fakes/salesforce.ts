/**
 * Fake Salesforce REST API for sObject Collections upsert
 * (`PATCH /services/data/vXX.X/composite/sobjects/{Object}/{ExternalIdField}`). Enforces: Bearer session
 * (401 INVALID_SESSION_ID), at most 200 records (400 EXCEEDED_ID_LIMIT), one object type, unknown fields fail
 * the request (400 INVALID_FIELD); per record (200 with ordered results under allOrNone false): missing
 * required LastName on create (REQUIRED_FIELD_MISSING), an external id held by several records
 * (DUPLICATE_EXTERNAL_ID), locked rows (UNABLE_TO_LOCK_ROW). `requestLimit` makes later calls answer
 * 403 REQUEST_LIMIT_EXCEEDED.
 */
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
}

export interface FakeSalesforce extends FakeServer {
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

  const handle = (request: RecordedRequest): FakeResponse => {
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
    const results = body.records.map((record) => {
      const extId = record[extField];
      const error = (statusCode: string, message: string, fields: string[] = []) => ({
        success: false,
        errors: [{ statusCode, message, fields }],
      });
      if (typeof extId !== 'string' || extId === '')
        return error('MISSING_ARGUMENT', `${extField} not specified`, [extField]);
      if (duplicates.has(extId))
        return error(
          'DUPLICATE_EXTERNAL_ID',
          `${object}: more than one record found for external id field: [${extId}]`,
        );
      if (locked.has(extId)) return error('UNABLE_TO_LOCK_ROW', 'unable to obtain exclusive access to this record');
      const key = `${object}:${extId}`;
      const existing = records.get(key);
      if (!existing && object === 'Contact' && typeof record.LastName !== 'string') {
        return error('REQUIRED_FIELD_MISSING', 'Required fields are missing: [LastName]', ['LastName']);
      }
      const { attributes: _attributes, ...fields } = record;
      const id = (existing?.Id as string | undefined) ?? `003${String(nextId++).padStart(15, '0')}`;
      records.set(key, { ...(existing ?? {}), ...fields, Id: id });
      return { id, success: true, errors: [], created: !existing };
    });
    return { status: 200, body: results };
  };
  const server = await startFakeServer(handle, options);
  return Object.assign(server, { records, lockedExternalIds: locked });
}
