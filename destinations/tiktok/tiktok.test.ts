import rows from './__fixtures__/conversions.json';
import expected from './__fixtures__/expected-request.json';
import { classify } from './client';
import { configSchema } from './config';
import { requestBody, toTiktokEvent } from './transform';

const config = configSchema.parse({
  pixelCode: 'CABC123',
  accessToken: 't',
  testEventCode: 'TEST99',
  limitedDataUse: false,
});

describe('tiktok transform', () => {
  const prepared = rows.map((row) => toTiktokEvent(row, config));

  it('maps canonical conversion rows to the exact Events API request', () => {
    expect(
      requestBody(
        prepared.flatMap((p) => (p.ok ? [p.value] : [])),
        config,
      ),
    ).toEqual(expected);
  });

  it('refuses a row whose hashed column is not a digest', () => {
    expect(prepared[2]).toEqual({ ok: false, reason: 'email_sha256 is not a SHA-256 hex digest' });
  });
});

describe('tiktok response table (HTTP 200 with codes)', () => {
  const answer = (code: number, status = 200) => {
    const body = { code, message: 'm', request_id: 'r1' };
    return classify({ status, headers: {}, body: JSON.stringify(body), json: body }, 2);
  };
  it.each([
    [0, { status: 'ok', requestId: 'r1' }],
    [20001, { status: 'rejected', vendorCode: '20001', wholeBatch: true }],
    [40100, { status: 'retry', vendorCode: '40100', retryAfterMs: 30000 }],
    [40700, { status: 'retry', vendorCode: '40700' }],
    [40002, { status: 'rejected', vendorCode: '40002', wholeBatch: true }],
    [51000, { status: 'retry', vendorCode: '51000' }],
  ])('code %i', (code, outcome) => {
    for (const o of answer(code)) expect(o).toMatchObject(outcome);
  });
  it('does not bisect auth failures (40001)', () => {
    for (const o of answer(40001)) {
      expect(o).toMatchObject({ status: 'rejected', vendorCode: '40001' });
      expect(o).not.toHaveProperty('wholeBatch');
    }
  });
  it('retries HTTP 429 and 5xx whatever the body says', () => {
    expect(answer(0, 503)[0].status).toBe('retry');
    expect(classify({ status: 429, headers: { 'retry-after': '9' }, body: '' }, 1)[0]).toMatchObject({
      status: 'retry',
      retryAfterMs: 9000,
    });
  });
});
