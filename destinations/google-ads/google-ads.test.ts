import rows from './__fixtures__/conversions.json';
import expectedEvents from './__fixtures__/expected-events-request.json';
import members from './__fixtures__/members.json';
import expectedMembers from './__fixtures__/expected-members-request.json';
import type { SyncRecord } from '../../src/core/destination';
import { classify } from './client';
import { classifyStatus, reduceStatus } from './status';
import { configSchema } from './config';
import { eventsBody, membersBody, toEvent, toMember, type DmMember } from './transform';

const config = configSchema.parse({
  accessToken: 't',
  operatingAccountId: '1234567890',
  loginAccountId: '9876543210',
  conversionActionId: '555001',
  audiences: { vip: '777' },
});

describe('google-ads transform', () => {
  it('maps conversions to the exact events:ingest body (validateOnly), one click id, user data only with consent', () => {
    const prepared = rows.map((row) => toEvent(row));
    expect(
      eventsBody(
        prepared.flatMap((p) => (p.ok ? [p.value] : [])),
        config,
        true,
      ),
    ).toEqual(expectedEvents);
    expect(prepared[2]).toEqual({
      ok: false,
      reason: expect.stringMatching(/no click id .* and no consented user data/) as unknown,
    });
    expect(prepared[3]).toEqual({ ok: false, reason: 'value without currency' });
  });

  it('maps audience members to the exact audienceMembers:ingest body', () => {
    const prepared = (members as SyncRecord[]).map((m) => toMember(m, config));
    expect(prepared.map((p) => (p.ok ? p.value.group : p.reason))).toEqual([
      'add 777',
      'remove 777',
      expect.stringMatching(/nothing to match on/),
    ]);
    const adds = prepared.flatMap((p) => (p.ok && p.value.group === 'add 777' ? [p.value.value] : [])) as DmMember[];
    expect(membersBody(adds, '777', 'add', config, false)).toEqual(expectedMembers);
    expect(membersBody(adds, '777', 'remove', config, false)).not.toHaveProperty('termsOfService');
  });
});

describe('google-ads response table', () => {
  const error = (status: number, code: string, details: unknown[] = [], headers: Record<string, string> = {}) => {
    const body = { error: { code: status, status: code, message: 'm', details } };
    return classify({ status, headers, body: JSON.stringify(body), json: body }, 3);
  };
  const badRequest = (fields: string[]) => [
    {
      '@type': 'type.googleapis.com/google.rpc.BadRequest',
      fieldViolations: fields.map((field) => ({ field, description: 'bad' })),
    },
  ];

  it('records the requestId on success', () => {
    expect(classify({ status: 200, headers: {}, body: '', json: { requestId: 'r-9' } }, 1)).toEqual([
      { status: 'ok', httpStatus: 200, requestId: 'r-9' },
    ]);
  });
  it('rejects the records the violations name and retries the others', () => {
    expect(error(400, 'INVALID_ARGUMENT', badRequest(['events[1].currency'])).map((o) => o.status)).toEqual([
      'retry',
      'rejected',
      'retry',
    ]);
    expect(
      error(400, 'INVALID_ARGUMENT', badRequest(['audience_members[2].user_data.user_identifiers[0]'])).map(
        (o) => o.status,
      ),
    ).toEqual(['retry', 'retry', 'rejected']);
  });
  it('marks whole-request violations for bisection', () => {
    for (const o of error(400, 'INVALID_ARGUMENT', badRequest(['encoding'])))
      expect(o).toMatchObject({ status: 'rejected', wholeBatch: true });
    for (const o of error(400, 'INVALID_ARGUMENT')) expect(o).toMatchObject({ status: 'rejected', wholeBatch: true });
  });
  it.each([
    [401, 'UNAUTHENTICATED', 'rejected'],
    [403, 'PERMISSION_DENIED', 'rejected'],
    [400, 'FAILED_PRECONDITION', 'rejected'],
    [503, 'UNAVAILABLE', 'retry'],
    [500, 'INTERNAL', 'retry'],
  ])('%i %s → %s', (status, code, outcome) => {
    const outcomes = error(status, code);
    expect(outcomes[0]).toMatchObject({ status: outcome, vendorCode: code });
    expect(outcomes[0]).not.toHaveProperty('wholeBatch');
  });
  it('throttles RESOURCE_EXHAUSTED with Retry-After or a minute', () => {
    expect(error(429, 'RESOURCE_EXHAUSTED')[0]).toMatchObject({ status: 'retry', retryAfterMs: 60000 });
    expect(error(429, 'RESOURCE_EXHAUSTED', [], { 'retry-after': '5' })[0]).toMatchObject({ retryAfterMs: 5000 });
  });
});

describe('google-ads request status', () => {
  const answer = (status: number, json: unknown) => ({ status, headers: {}, body: JSON.stringify(json), json });
  it.each([
    [
      'success with warnings',
      [
        {
          requestStatus: 'SUCCESS',
          eventsIngestionStatus: { recordCount: '7' },
          warningInfo: { warningCounts: [{ reason: 'W', recordCount: '2' }] },
        },
      ],
      { status: 'success', records: 7, errors: [], warnings: ['W x2'] },
    ],
    [
      'failure without error counts fails every record',
      [{ requestStatus: 'FAILED', audienceMembersRemovalStatus: { userDataRemovalStatus: { recordCount: '4' } } }],
      { status: 'failure', records: 4, failedRecords: 4, errors: ['FAILED without errorInfo'] },
    ],
    [
      'one destination still processing keeps the request pending',
      [{ requestStatus: 'SUCCESS' }, { requestStatus: 'PROCESSING' }],
      { status: 'pending', errors: [] },
    ],
    ['unknown status', [{ requestStatus: 'REQUEST_STATUS_UNKNOWN' }], { status: 'unknown', errors: [] }],
    ['no destinations', [], { status: 'unknown', errors: ['no requestStatusPerDestination'] }],
  ])('%s', (_name, perDestination, expected) => {
    expect(reduceStatus('r', { requestStatusPerDestination: perDestination })).toEqual({ requestId: 'r', ...expected });
  });
  it('treats quota and server errors as ask-again, an unknown id as final', () => {
    const error = (status: number, code: string) =>
      answer(status, { error: { code: status, status: code, message: 'm' } });
    expect(classifyStatus('r', error(429, 'RESOURCE_EXHAUSTED'))).toEqual({
      transient: 'requestStatus 429 RESOURCE_EXHAUSTED: m',
    });
    expect(classifyStatus('r', error(401, 'UNAUTHENTICATED'))).toEqual({
      transient: 'requestStatus 401 UNAUTHENTICATED: m',
    });
    expect(classifyStatus('r', error(404, 'NOT_FOUND'))).toEqual({
      verification: { requestId: 'r', status: 'unknown', errors: ['NOT_FOUND: m'] },
    });
    expect(classifyStatus('r', error(400, 'INVALID_ARGUMENT'))).toMatchObject({ verification: { status: 'unknown' } });
  });
});
