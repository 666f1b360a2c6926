import rows from './__fixtures__/conversions.json';
import expected from './__fixtures__/expected-requests.json';
import { classifyDebug } from './client';
import { configSchema } from './config';
import { eventProblems, requestBody, toGa4, type Ga4Common, type Ga4Event } from './transform';

const NOW = new Date('2026-11-20T12:00:00Z');
const config = configSchema.parse({ measurementId: 'G-TEST123', apiSecret: 's3cr3t' });

describe('ga4-mp transform', () => {
  const prepared = rows.map((row) => toGa4(row, config, NOW));

  it('groups rows by client and maps them to the exact Measurement Protocol bodies', () => {
    const groups = new Map<string, { common: Ga4Common; events: Ga4Event[] }>();
    for (const p of prepared) {
      if (!p.ok) continue;
      const group = groups.get(p.value.group) ?? { common: p.value.value.common, events: [] };
      group.events.push(p.value.value.event);
      groups.set(p.value.group, group);
    }
    expect([...groups.values()].map((g) => requestBody(g.common, g.events, config))).toEqual(expected);
  });

  it.each([
    [3, /Measurement Protocol backdates at most 72 h/],
    [4, /anonymous_id is missing/],
    [5, /must start with a letter/],
    [6, /"session_start" is reserved/],
    [7, /value without currency/],
  ])('refuses row %i locally', (index, reason) => {
    const result = prepared[index];
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('checks every documented event limit', () => {
    const long = 'x'.repeat(101);
    const params: Record<string, unknown> = { ga_thing: 1, 'bad-name': 2, long_value: long };
    for (let i = 0; i < 25; i++) params[`p${i}`] = i;
    const problems = eventProblems({ name: `e${'x'.repeat(40)}`, params, timestamp_micros: 0 });
    expect(problems).toEqual([
      expect.stringMatching(/event name .* longer than 40/),
      '28 params; GA4 allows 25',
      'param name "ga_thing" uses a reserved prefix',
      expect.stringMatching(/param name "bad-name" must start with a letter/),
      'param long_value is longer than 100 characters',
    ]);
    const items = [Object.fromEntries(Array.from({ length: 11 }, (_, i) => [`custom_${i}`, 'v']))];
    expect(eventProblems({ name: 'purchase', params: { items }, timestamp_micros: 0 })).toEqual([
      'an item has 11 custom params; GA4 allows 10',
    ]);
    expect(eventProblems({ name: 'purchase', params: { value: 1, currency: 'EUR' }, timestamp_micros: 0 })).toEqual([]);
  });
});

describe('ga4-mp debug response', () => {
  const debug = (messages: unknown[]) =>
    classifyDebug({ status: 200, headers: {}, body: '', json: { validationMessages: messages } }, 3);

  it('rejects the events a message points at and keeps the others ok', () => {
    const outcomes = debug([
      {
        fieldPath: 'events',
        description: 'Event at index: [1] has invalid name [x-y].',
        validationCode: 'NAME_INVALID',
      },
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'rejected', 'ok']);
    expect(outcomes[1]).toMatchObject({
      vendorCode: 'NAME_INVALID',
      reason: expect.stringContaining('index: [1]') as unknown,
    });
  });

  it('rejects every event for a request-level message, and all ok without messages', () => {
    expect(
      debug([
        { fieldPath: 'client_id', description: 'Measurement requires a client_id.', validationCode: 'VALUE_REQUIRED' },
      ]).map((o) => o.status),
    ).toEqual(['rejected', 'rejected', 'rejected']);
    expect(debug([]).map((o) => o.status)).toEqual(['ok', 'ok', 'ok']);
  });
});
