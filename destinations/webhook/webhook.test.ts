import crypto from 'node:crypto';
import { addressRange, privateAddressProblem } from './guard';
import { serializeBody, sign, verifySignature } from './transform';
import body from './__fixtures__/expected-body.json';

describe('webhook signature', () => {
  const secret = 'whsec_0123456789abcdef';
  const now = new Date('2026-11-20T12:00:00Z');
  const ts = Math.floor(now.getTime() / 1000);

  it('serializes records with BIGINT columns and signs timestamp.body with HMAC-SHA256', () => {
    const text = serializeBody(
      [
        {
          key: 'u-1',
          action: 'upsert',
          data: { person_id: 'p-1', event_count: 12n, huge: 2n ** 70n, email: 'a@example.com' },
        },
      ],
      now,
    );
    expect(JSON.parse(text)).toEqual(body);
    // Independent computation of the documented scheme.
    const hex = crypto.createHmac('sha256', secret).update(`${ts}.${text}`).digest('hex');
    expect(sign(secret, ts, text)).toBe(`sha256=${hex}`);
  });

  it('verifies good signatures and refuses tampering, wrong secrets and stale timestamps', () => {
    const text = '{"records":[]}';
    const signature = sign(secret, ts, text);
    expect(verifySignature(secret, String(ts), text, signature, now)).toBe(true);
    expect(verifySignature(secret, String(ts), `${text} `, signature, now)).toBe(false);
    expect(verifySignature('another-secret-value', String(ts), text, signature, now)).toBe(false);
    expect(verifySignature(secret, String(ts + 1), text, signature, now)).toBe(false);
    const later = new Date(now.getTime() + 301_000);
    expect(verifySignature(secret, String(ts), text, signature, later)).toBe(false);
  });
});

describe('webhook address guard', () => {
  it.each([
    ['10.1.2.3', 'private'],
    ['172.16.0.1', 'private'],
    ['192.168.1.1', 'private'],
    ['127.0.0.1', 'loopback'],
    ['169.254.169.254', 'linkLocal'],
    ['100.64.0.1', 'carrierGradeNat'],
    ['0.0.0.0', 'unspecified'],
    ['::1', 'loopback'],
    ['fe80::1', 'linkLocal'],
    ['fd00:ec2::254', 'uniqueLocal'],
    ['::ffff:10.0.0.1', 'private'],
    ['64:ff9b::7f00:1', 'loopback'],
    ['2002:a9fe:a9fe::1', 'linkLocal'],
    ['93.184.216.34', 'unicast'],
    ['2606:2800:220:1:248:1893:25c8:1946', 'unicast'],
  ])('%s is %s', (address, range) => {
    expect(addressRange(address)).toBe(range);
  });

  const resolver = (table: Record<string, string[]>) => (host: string) =>
    table[host] ? Promise.resolve(table[host]) : Promise.reject(new Error('ENOTFOUND'));

  it.each([
    ['https://hooks.example.com/in', { 'hooks.example.com': ['93.184.216.34'] }, undefined],
    ['https://hooks.example.com/in', { 'hooks.example.com': ['93.184.216.34', '10.0.0.5'] }, /10\.0\.0\.5 \(private\)/],
    ['https://internal.example.com/', { 'internal.example.com': ['fd12::1'] }, /uniqueLocal/],
    ['http://metadata.google.internal/computeMetadata/v1/', {}, /metadata server/],
    ['http://169.254.169.254/latest/meta-data/', {}, /linkLocal/],
    ['http://[::1]:8080/', {}, /loopback/],
    ['http://localhost:3000/', {}, /loopback/],
    ['https://nowhere.example.com/', {}, /cannot resolve/],
  ])('%s with %j', async (url, table, expected) => {
    const problem = await privateAddressProblem(url, resolver(table));
    if (expected === undefined) expect(problem).toBeUndefined();
    else expect(problem).toMatch(expected);
  });
});
