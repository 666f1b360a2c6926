import rows from './__fixtures__/users.json';
import expected from './__fixtures__/expected-request.json';
import { classify } from './client';
import { configSchema } from './config';
import { propertyValue, toInput, type HubspotInput } from './transform';

const config = configSchema.parse({ accessToken: 't' });

describe('hubspot transform', () => {
  const prepared = rows.map((row) => toInput(row, config));

  it('maps user rows to the exact batch upsert inputs (strings, no empty values)', () => {
    expect({ inputs: prepared.flatMap((p) => (p.ok ? [p.value] : [])) }).toEqual(expected);
  });

  it('refuses rows without a usable email', () => {
    expect(prepared[2]).toEqual({ ok: false, reason: 'email is not an email address' });
    expect(prepared[3]).toEqual({ ok: false, reason: 'email is missing: it identifies the contact' });
  });

  it('sends only the listed properties when configured', () => {
    const only = toInput(rows[0], configSchema.parse({ accessToken: 't', properties: ['firstname'] }));
    expect(only.ok && only.value.properties).toEqual({ firstname: 'Jane' });
  });

  it('formats values as HubSpot strings', () => {
    expect([new Date('2026-01-02T03:04:05Z'), 5n, false, ['a'], { b: 1 }].map(propertyValue)).toEqual([
      '2026-01-02T03:04:05.000Z',
      '5',
      'false',
      '["a"]',
      '{"b":1}',
    ]);
  });
});

describe('hubspot response table', () => {
  const inputs: HubspotInput[] = ['a@x.io', 'b@x.io', 'c@x.io'].map((id) => ({
    id,
    idProperty: 'email',
    properties: {},
  }));
  const answer = (status: number, body: unknown, headers: Record<string, string> = {}) =>
    classify({ status, headers, body: JSON.stringify(body), json: body }, inputs);

  it('rejects only the inputs named in errors of a 207', () => {
    const outcomes = answer(207, {
      status: 'COMPLETE',
      results: [{ properties: { email: 'a@x.io' } }, { properties: { email: 'C@X.io' } }],
      errors: [{ category: 'VALIDATION_ERROR', message: 'bad', context: { ids: ['b@x.io'] } }],
      numErrors: 1,
    });
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'rejected', 'ok']);
  });

  it('retries inputs neither a result nor an error names', () => {
    const outcomes = answer(207, {
      results: [{ properties: { email: 'a@x.io' } }],
      errors: [{ category: 'X', message: 'm', context: {} }],
    });
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'retry', 'retry']);
  });

  it.each([
    [{}, 'SECONDLY', { 'x-hubspot-ratelimit-interval-milliseconds': '10000' }, 10000],
    [{}, 'SECONDLY', { 'retry-after': '3' }, 3000],
    [{}, 'DAILY', {}, 3600000],
  ])('429 %#', (_b, policy, headers, wait) => {
    const outcomes = answer(429, { status: 'error', policyName: policy, message: 'limit' }, headers);
    expect(outcomes[0]).toMatchObject({ status: 'retry', retryAfterMs: wait, vendorCode: policy });
  });

  it('marks 400 whole-batch, 401 not, and retries 5xx', () => {
    expect(answer(400, { category: 'VALIDATION_ERROR', message: 'x' })[0]).toMatchObject({
      status: 'rejected',
      wholeBatch: true,
    });
    expect(answer(401, { category: 'INVALID_AUTHENTICATION', message: 'x' })[0]).not.toHaveProperty('wholeBatch');
    expect(answer(502, 'Bad gateway')[0]).toMatchObject({ status: 'retry', httpStatus: 502 });
  });
});
