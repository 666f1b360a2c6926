import rows from './__fixtures__/users.json';
import expected from './__fixtures__/expected-request.json';
import { classify } from './client';
import { configSchema } from './config';
import { requestBody, toRecord } from './transform';

const config = configSchema.parse({
  endpoint: 'https://acme.my.salesforce.com',
  accessToken: 't',
  externalIdField: 'Tagpipe_Person_Id__c',
});

describe('salesforce transform', () => {
  const prepared = rows.map((row) => toRecord(row, config));
  it('maps user rows to the exact collections upsert body', () => {
    expect(requestBody(prepared.flatMap((p) => (p.ok ? [p.value] : [])))).toEqual(expected);
  });
  it('refuses rows without the external id', () => {
    expect(prepared[2]).toEqual({ ok: false, reason: 'Tagpipe_Person_Id__c is missing: the upsert matches on it' });
  });
});

describe('salesforce response table', () => {
  const json = (status: number, body: unknown) => ({ status, headers: {}, body: JSON.stringify(body), json: body });
  it('maps ordered per-record results', () => {
    const outcomes = classify(
      json(200, [
        { id: '003A', success: true, errors: [] },
        { success: false, errors: [{ statusCode: 'UNABLE_TO_LOCK_ROW', message: 'locked', fields: [] }] },
        {
          success: false,
          errors: [{ statusCode: 'DUPLICATE_EXTERNAL_ID', message: 'more than one record', fields: [] }],
        },
        {
          success: false,
          errors: [
            {
              statusCode: 'REQUIRED_FIELD_MISSING',
              message: 'Required fields are missing: [LastName]',
              fields: ['LastName'],
            },
          ],
        },
      ]),
      4,
    );
    expect(outcomes).toEqual([
      { status: 'ok', httpStatus: 200, requestId: '003A' },
      expect.objectContaining({ status: 'retry', vendorCode: 'UNABLE_TO_LOCK_ROW' }),
      expect.objectContaining({ status: 'rejected', vendorCode: 'DUPLICATE_EXTERNAL_ID' }),
      expect.objectContaining({
        status: 'rejected',
        vendorCode: 'REQUIRED_FIELD_MISSING',
        reason: expect.stringContaining('[LastName]') as unknown,
      }),
    ]);
    expect(outcomes[3]).not.toHaveProperty('wholeBatch');
  });
  it.each([
    [403, 'REQUEST_LIMIT_EXCEEDED', { status: 'retry', retryAfterMs: 900000 }],
    [400, 'INVALID_FIELD', { status: 'rejected', wholeBatch: true }],
    [503, 'SERVER_UNAVAILABLE', { status: 'retry' }],
    [500, 'UNKNOWN_EXCEPTION', { status: 'retry' }],
  ])('%i %s', (status, errorCode, outcome) => {
    for (const o of classify(json(status, [{ message: 'm', errorCode }]), 2))
      expect(o).toMatchObject({ ...outcome, vendorCode: errorCode });
  });
  it('rejects a 300 (external id on several records) without bisection', () => {
    const outcomes = classify(
      json(300, ['/services/data/v68.0/sobjects/Contact/003A', '/services/data/v68.0/sobjects/Contact/003B']),
      1,
    );
    expect(outcomes[0]).toMatchObject({ status: 'rejected', httpStatus: 300, vendorCode: 'MULTIPLE_CHOICES' });
    expect(outcomes[0]).not.toHaveProperty('wholeBatch');
  });

  it('does not bisect a 404 (object or field missing) and retries a bare 502', () => {
    expect(classify(json(404, [{ message: 'm', errorCode: 'NOT_FOUND' }]), 1)[0]).not.toHaveProperty('wholeBatch');
    expect(classify({ status: 502, headers: {}, body: 'gateway' }, 1)[0].status).toBe('retry');
  });
});
