import rows from './__fixtures__/rows.json';
import expected from './__fixtures__/expected-request.json';
import { configSchema } from './config';
import { toEventInput } from './transform';

const config = configSchema.parse({
  accessToken: 't',
  eventNames: { purchase: 'pe123456_purchase', sign_up: 'pe123456_signup' },
  properties: ['value', 'transaction_id'],
});

describe('hubspot-events transform', () => {
  const prepared = rows.map((row) => toEventInput(row, config));

  it('maps rows to the exact batch body, one identity per occurrence', () => {
    expect({ inputs: prepared.flatMap((p) => (p.ok ? [p.value] : [])) }).toEqual(expected);
  });

  it('refuses rows without an identity or without a configured event', () => {
    expect(prepared[3]).toEqual({ ok: false, reason: expect.stringMatching(/no email, utk or objectId/) as unknown });
    expect(prepared[4]).toEqual({ ok: false, reason: 'no HubSpot event configured for event_name page_view' });
  });

  it('requires fully qualified event names', () => {
    expect(configSchema.safeParse({ accessToken: 't', eventName: 'purchase' }).success).toBe(false);
    expect(configSchema.safeParse({ accessToken: 't' }).success).toBe(false);
  });
});
