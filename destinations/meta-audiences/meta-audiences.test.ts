import members from './__fixtures__/members.json';
import expected from './__fixtures__/expected-requests.json';
import type { SyncRecord } from '../../src/core/destination';
import { configSchema } from './config';
import { payload, toMember, type MemberRow } from './transform';
import { classify } from './client';

const config = configSchema.parse({ accessToken: 't', audiences: { vip: '111', cart: '222' } });

describe('meta-audiences transform', () => {
  const prepared = (members as SyncRecord[]).map((m) => toMember(m, config));

  it('groups members by audience and action into the exact users payloads', () => {
    const groups: Record<string, MemberRow[]> = {};
    for (const p of prepared) if (p.ok) (groups[p.value.group] ??= []).push(p.value.value);
    const bodies = Object.fromEntries(Object.entries(groups).map(([group, rows]) => [group, payload(rows)]));
    expect(bodies).toEqual(expected);
  });

  it('refuses members without identifiers and audiences without a mapping', () => {
    expect(prepared[4]).toEqual({
      ok: false,
      reason: expect.stringMatching(/no email or phone Meta can match on/) as unknown,
    });
    expect(prepared[5]).toEqual({
      ok: false,
      reason: expect.stringMatching(/no Meta audience configured for audience_id other/) as unknown,
    });
  });

  it('requires an audience id or a mapping', () => {
    expect(configSchema.safeParse({ accessToken: 't' }).success).toBe(false);
    expect(configSchema.safeParse({ accessToken: 't', audienceId: '42' }).success).toBe(true);
  });
});

describe('meta-audiences response table', () => {
  const rows: MemberRow[] = [
    ['a'.repeat(64), ''],
    ['b'.repeat(64), ''],
  ];
  it('rejects the members Meta samples as invalid and accepts the rest', () => {
    const body = {
      audience_id: '1',
      session_id: 's',
      num_received: 2,
      num_invalid_entries: 1,
      invalid_entry_samples: ['b'.repeat(64)],
    };
    const outcomes = classify({ status: 200, headers: {}, body: JSON.stringify(body), json: body }, rows);
    expect(outcomes.map((o) => o.status)).toEqual(['ok', 'rejected']);
  });
  it('uses the Graph API error table', () => {
    const body = { error: { code: 80003, message: 'too many calls' } };
    const outcomes = classify({ status: 400, headers: {}, body: JSON.stringify(body), json: body }, rows);
    expect(outcomes).toEqual([
      expect.objectContaining({ status: 'retry', vendorCode: '80003' }),
      expect.objectContaining({ status: 'retry' }),
    ]);
  });
});
