import rows from './__fixtures__/conversions.json';
import expected from './__fixtures__/expected-request.json';
import { classify } from './client';
import { configSchema } from './config';
import { requestBody, toServerEvent } from './transform';

const NOW = new Date('2026-11-20T12:00:00Z');
const config = configSchema.parse({
  pixelId: '1234567890',
  accessToken: 'test-token',
  testEventCode: 'TEST123',
  dataProcessingOptions: [],
  dataProcessingOptionsCountry: 0,
});

describe('meta-capi transform', () => {
  const prepared = rows.map((row) => toServerEvent(row, config, NOW));

  it('maps canonical conversion rows to the exact Conversions API request', () => {
    const events = prepared.flatMap((p) => (p.ok ? [p.value] : []));
    expect(requestBody(events, config)).toEqual(expected);
  });

  it.each([
    [2, /days old; Meta accepts at most 7 days/],
    [3, /event_source_url/],
    [4, /email_sha256 is not a SHA-256 hex digest/],
  ])('refuses row %i locally: %s', (index, reason) => {
    const result = prepared[index];
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('uses configured event names before the conversion_type defaults', () => {
    const custom = configSchema.parse({
      pixelId: '1',
      accessToken: 't',
      eventNames: { generate_lead: 'Contact', purchase: 'Subscribe' },
    });
    const names = rows.slice(0, 2).map((row) => {
      const result = toServerEvent(row, custom, NOW);
      return result.ok ? result.value.event_name : result.reason;
    });
    expect(names).toEqual(['Subscribe', 'Contact']);
  });

  it('omits data processing options unless configured, and sends LDU flags as given', () => {
    const plain = toServerEvent(rows[1], configSchema.parse({ pixelId: '1', accessToken: 't' }), NOW);
    expect(plain.ok && 'data_processing_options' in plain.value).toBe(false);
    const ldu = configSchema.parse({
      pixelId: '1',
      accessToken: 't',
      dataProcessingOptions: ['LDU'],
      dataProcessingOptionsCountry: 1,
      dataProcessingOptionsState: 1000,
    });
    const flagged = toServerEvent(rows[1], ldu, NOW);
    expect(flagged.ok && flagged.value).toMatchObject({
      data_processing_options: ['LDU'],
      data_processing_options_country: 1,
      data_processing_options_state: 1000,
    });
  });
});

describe('meta-capi response table', () => {
  const json = (status: number, body: unknown, headers: Record<string, string> = {}) => ({
    status,
    headers,
    body: JSON.stringify(body),
    json: body,
  });
  const error = (code: number, subcode?: number, extra: Record<string, unknown> = {}) => ({
    error: { message: 'm', code, ...(subcode ? { error_subcode: subcode } : {}), ...extra },
  });

  it.each([
    ['ok', json(200, { events_received: 2, fbtrace_id: 'tr' }), { status: 'ok', requestId: 'tr' }],
    ['count mismatch', json(200, { events_received: 1 }), { status: 'retry' }],
    [
      'event too old',
      json(400, error(100, 2804003)),
      { status: 'rejected', vendorCode: '100/2804003', wholeBatch: true },
    ],
    ['token expired', json(400, error(190, 460)), { status: 'rejected', vendorCode: '190/460', wholeBatch: undefined }],
    ['permission', json(403, error(200)), { status: 'rejected', vendorCode: '200', wholeBatch: undefined }],
    ['downtime', json(503, error(2)), { status: 'retry', vendorCode: '2' }],
    [
      'transient flag',
      json(400, error(9999, undefined, { is_transient: true })),
      { status: 'retry', vendorCode: '9999' },
    ],
    ['throttle', json(400, error(17)), { status: 'retry', vendorCode: '17', retryAfterMs: 60000 }],
    [
      'throttle with Retry-After',
      json(400, error(4), { 'retry-after': '12' }),
      { status: 'retry', retryAfterMs: 12000 },
    ],
    ['bare 502', { status: 502, headers: {}, body: 'Bad Gateway' }, { status: 'retry', httpStatus: 502 }],
    ['bare 404', { status: 404, headers: {}, body: 'nope' }, { status: 'rejected', wholeBatch: true }],
  ])('%s', (_name, response, outcome) => {
    const outcomes = classify(response, 2);
    expect(outcomes).toHaveLength(2);
    for (const o of outcomes) expect(o).toMatchObject(JSON.parse(JSON.stringify(outcome)) as object);
    if ('wholeBatch' in outcome && outcome.wholeBatch === undefined) {
      for (const o of outcomes) expect(o).not.toHaveProperty('wholeBatch');
    }
  });
});
