import meta from '../test/fixtures/pii/meta.json';
import google from '../test/fixtures/pii/google.json';
import { identifierHash, items, sendPrepared, toDate, accept, refuse } from './shared';
import { RetryableError } from '../src/core/errors';

describe('identifierHash', () => {
  // Vendor-published normalization examples (test/fixtures/pii): plaintext columns get the vendor's own hash.
  const published = [...meta.cases, ...google.cases].filter(
    (c) =>
      (c.kind === 'email' || c.kind === 'phone') &&
      ['meta', 'ga4', 'google_dm', 'tiktok'].includes(c.variant) &&
      c.sha256 &&
      !('defaultCountryCode' in c),
  );
  it.each(published.map((c) => [c.variant, c.kind, c.input, c.sha256] as const))(
    '%s %s %j',
    (variant, kind, input, sha256) => {
      expect(identifierHash({ [kind]: input }, kind as 'email' | 'phone', variant as 'meta')).toEqual({
        value: sha256,
      });
    },
  );

  const canonicalPhone = 'f3d7e96c73fb0de1b66acfce541d7af758fbd4f3fa3af0ea4e10110000d3625e'; // +442070313000
  it('passes canonical hashes through, except a phone hash for Meta (which hashes without the +)', () => {
    const row = { email_sha256: 'A'.repeat(64), phone_sha256: canonicalPhone };
    expect(identifierHash(row, 'email', 'meta')).toEqual({ value: 'a'.repeat(64) });
    expect(identifierHash(row, 'phone', 'google_dm')).toEqual({ value: canonicalPhone });
    expect(identifierHash(row, 'phone', 'meta')).toEqual({});
  });

  it('prefers usable plaintext, falls back to the hash column, and reports malformed hash columns', () => {
    expect(identifierHash({ email: 'not an email', email_sha256: 'b'.repeat(64) }, 'email', 'meta')).toEqual({
      value: 'b'.repeat(64),
    });
    expect(identifierHash({ email: 'not an email' }, 'email', 'meta')).toEqual({});
    expect(identifierHash({ email_sha256: 'jane@example.com' }, 'email', 'ga4')).toEqual({
      error: 'email_sha256 is not a SHA-256 hex digest',
    });
    expect(identifierHash({}, 'phone', 'tiktok')).toEqual({});
  });
});

describe('mart values', () => {
  it.each([
    ['2026-11-19 18:30:05.123456', '2026-11-19T18:30:05.123Z'],
    ['2026-11-19T18:30:05Z', '2026-11-19T18:30:05.000Z'],
    ['2026-11-19T19:30:05+01:00', '2026-11-19T18:30:05.000Z'],
    [{ value: '2026-11-19 18:30:05' }, '2026-11-19T18:30:05.000Z'],
    [1795113005000, '2026-11-19T18:30:05.000Z'],
  ])('reads timestamp %j', (value, iso) => {
    expect(toDate(value)?.toISOString()).toBe(iso);
  });
  it('rejects what is not a timestamp', () => {
    expect(toDate('yesterday')).toBeUndefined();
    expect(toDate(null)).toBeUndefined();
  });
  it('reads items from JSON text or arrays and drops non-objects', () => {
    expect(items({ items: '[{"item_id":"A","price":"2.5","quantity":2},3]' })).toEqual([
      { item_id: 'A', price: 2.5, quantity: 2 },
    ]);
    expect(items({ items: [{ item_name: 'B' }] })).toEqual([{ item_name: 'B' }]);
    expect(items({ items: 'not json' })).toEqual([]);
  });
});

describe('sendPrepared', () => {
  it('keeps order, chunks, rejects refused records locally and turns a RetryableError into retries for its chunk', async () => {
    const chunks: number[][] = [];
    const prepared = [accept(1), refuse<number>('bad'), accept(2), accept(3), accept(4)];
    const outcomes = await sendPrepared(prepared, 2, (values) => {
      chunks.push(values);
      if (values.includes(4)) return Promise.reject(new RetryableError('network down', 1234));
      return Promise.resolve(values.map(() => ({ status: 'ok' as const })));
    });
    expect(chunks).toEqual([
      [1, 2],
      [3, 4],
    ]);
    expect(outcomes).toEqual([
      { status: 'ok' },
      { status: 'rejected', reason: 'bad', vendorCode: 'local_validation' },
      { status: 'ok' },
      { status: 'retry', reason: 'network down', retryAfterMs: 1234 },
      { status: 'retry', reason: 'network down', retryAfterMs: 1234 },
    ]);
  });
  it('refuses a chunk answer with the wrong number of outcomes', async () => {
    await expect(
      sendPrepared([accept(1), accept(2)], 5, () => Promise.resolve([{ status: 'ok' as const }])),
    ).rejects.toThrow(/1 outcomes for 2 records/);
  });
});
