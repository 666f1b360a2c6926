import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import {
  type IdentifierKind,
  type PiiVariant,
  guardEvent,
  hashIdentifier,
  isSha256Hex,
  normalizeCountry,
  normalizeDob,
  normalizeEmail,
  normalizeIdentifier,
  normalizePhone,
  normalizeZip,
  redactSearch,
  redactText,
  redactUrl,
  sha256Hex,
  redactProperties,
} from './pii';

interface GoldenCase {
  kind: IdentifierKind;
  variant: PiiVariant;
  input: string;
  defaultCountryCode?: string;
  normalized: string | null;
  sha256: string | null;
  sha256_base64?: string;
  published?: boolean;
  source: string;
}

const fixtureDir = path.join(__dirname, '../../test/fixtures/pii');
const golden: Array<[string, GoldenCase]> = fs
  .readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.json'))
  .flatMap((f) => {
    const doc = JSON.parse(fs.readFileSync(path.join(fixtureDir, f), 'utf8')) as { cases: GoldenCase[] };
    return doc.cases.map((c): [string, GoldenCase] => [`${f}: ${c.variant} ${c.kind} ${JSON.stringify(c.input)}`, c]);
  });

describe('golden vendor examples', () => {
  it('has the vendor-published examples', () => {
    expect(golden.length).toBeGreaterThanOrEqual(30);
    expect(golden.filter(([, c]) => c.published).length).toBeGreaterThanOrEqual(9);
  });

  it.each(golden)('%s', (_name, c) => {
    expect(normalizeIdentifier(c.kind, c.input, c.variant, c.defaultCountryCode)).toBe(c.normalized);
    expect(hashIdentifier(c.kind, c.input, c.variant, 'hex', c.defaultCountryCode)).toBe(c.sha256);
    if (c.normalized !== null) {
      // Cross-check of the fixture itself: the literal hash is SHA-256 of the literal normalized value.
      expect(createHash('sha256').update(c.normalized).digest('hex')).toBe(c.sha256);
    }
    if (c.sha256_base64) {
      expect(hashIdentifier(c.kind, c.input, c.variant, 'base64', c.defaultCountryCode)).toBe(c.sha256_base64);
    }
  });
});

describe('hashing', () => {
  const hash = '542d240129883c019e106e3b1b2d3f3cb3537c43c425364de8e951d5a3083345';

  it('sha256Hex and isSha256Hex', () => {
    expect(sha256Hex('person@example.com')).toBe(hash);
    expect(isSha256Hex(hash)).toBe(true);
    expect(isSha256Hex(hash.toUpperCase())).toBe(true);
    expect(isSha256Hex(hash.slice(1))).toBe(false);
    expect(isSha256Hex(`${hash.slice(1)}g`)).toBe(false);
    expect(isSha256Hex(42)).toBe(false);
  });

  it('passes already-hashed values through, lowercased, never hashing twice', () => {
    for (const variant of ['canonical', 'meta', 'ga4', 'google_dm', 'tiktok'] as const) {
      expect(hashIdentifier('email', ` ${hash.toUpperCase()} `, variant)).toBe(hash);
      expect(hashIdentifier('phone', hash, variant)).toBe(hash);
    }
    expect(hashIdentifier('email', hash, 'google_dm', 'base64')).toBe('VC0kASmIPAGeEG47Gy0/PLNTfEPEJTZN6OlR1aMIM0U=');
  });

  it('returns null for unusable values instead of hashing garbage', () => {
    expect(hashIdentifier('email', '', 'meta')).toBeNull();
    expect(hashIdentifier('email', 'jane at example', 'meta')).toBeNull();
    expect(hashIdentifier('phone', 'call me', 'meta')).toBeNull();
    expect(hashIdentifier('phone', '12345', 'meta')).toBeNull();
    expect(hashIdentifier('email', null, 'meta')).toBeNull();
    expect(hashIdentifier('email', { email: 'a@b.com' }, 'meta')).toBeNull();
  });
});

describe('normalizers', () => {
  it('email variants differ exactly where the vendors differ', () => {
    const input = ' Jane.Doe+News@GMail.com ';
    expect(normalizeEmail(input, 'canonical')).toBe('jane.doe+news@gmail.com');
    expect(normalizeEmail(input, 'meta')).toBe('jane.doe+news@gmail.com');
    expect(normalizeEmail(input, 'tiktok')).toBe('jane.doe+news@gmail.com');
    expect(normalizeEmail(input, 'ga4')).toBe('janedoe+news@gmail.com');
    expect(normalizeEmail(input, 'google_dm')).toBe('janedoe@gmail.com');
    expect(normalizeEmail('a b@example.com', 'canonical')).toBeNull();
    expect(normalizeEmail('a b@example.com', 'google_dm')).toBe('ab@example.com');
    expect(normalizeEmail('+x@gmail.com', 'google_dm')).toBeNull();
  });

  it('phone: Meta drops the +, Google keeps it; international prefixes and trunk zeros', () => {
    expect(normalizePhone('+49 (0)30 1234567', 'google_dm')).toBe('+49301234567');
    expect(normalizePhone('030 1234567', 'canonical', 49)).toBe('+49301234567');
    expect(normalizePhone('030 1234567', 'meta', '+49')).toBe('49301234567');
    expect(normalizePhone('00 1 650 555 1212', 'meta')).toBe('16505551212');
    expect(normalizePhone('16505551212', 'canonical', '1')).toBe('+16505551212');
    expect(normalizePhone('1234567890123456', 'canonical')).toBeNull();
    expect(normalizePhone('+0 650 555 1212', 'canonical')).toBeNull();
    expect(normalizePhone('650-555-1212 x12', 'canonical', '1')).toBeNull();
  });

  it('address parts, country, dob', () => {
    expect(normalizeZip('SW1A 1AA')).toBe('sw1a1aa');
    expect(normalizeZip('123456789')).toBe('12345');
    expect(normalizeZip('12345-6789', 'US')).toBe('12345');
    expect(normalizeCountry('United Kingdom')).toBe('gb');
    expect(normalizeCountry('DEU')).toBeNull();
    expect(normalizeDob('1997-02-16T00:00:00Z')).toBe('19970216');
    expect(normalizeDob('19970230')).toBeNull();
    expect(normalizeDob('16/02/1997')).toBeNull();
  });
});

describe('redactText', () => {
  it('replaces emails and phone numbers in free text', () => {
    expect(redactText('Contact jane.doe+x@example.co.uk or +1 (650) 555-1212 today')).toBe(
      'Contact [email] or [phone] today',
    );
    expect(redactText('call 650.555.1212 or 020 7031 3000 / (020) 7031-3000')).toBe(
      'call [phone] or [phone] / [phone]',
    );
  });

  it('keeps dates, IPs, UUIDs, amounts, versions, epoch times and dashed ids', () => {
    const keep =
      'on 2026-11-22T10:00:00Z from 192.168.1.10 id 123e4567-e89b-12d3-a456-426614174000 ' +
      'price 1234567.89 os 10.0.19045.2965 at 1700000000000 ref INV-2026-000123 qty 12';
    expect(redactText(keep)).toBe(keep);
  });

  it('keeps JSON text valid', () => {
    const json = JSON.stringify({ a: 'x@y.com', b: 12345678, c: '(020) 7031 3000', d: ['+44 20 7031 3000'] });
    expect(JSON.parse(redactText(json))).toEqual({ a: '[email]', b: 12345678, c: '[phone]', d: ['[phone]'] });
  });

  it('never throws and is idempotent on arbitrary text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), (s) => {
        const once = redactText(s);
        expect(redactText(once)).toBe(once);
      }),
    );
  });
});

describe('redactUrl', () => {
  it('redacts path segments, query values and fragments, keeping the rest byte for byte', () => {
    expect(
      redactUrl(
        'https://shop.example.com/u/jane%40example.com/orders?email=jane%40example.com&utm_source=news%20letter&q=call+%2B44+20+7031+3000#/done?ph=123456789',
      ),
    ).toBe(
      'https://shop.example.com/u/[email]/orders?email=[email]&utm_source=news%20letter&q=call%20[phone]#/done?ph=[phone]',
    );
    const clean = 'https://x.com/a/b?gclid=Cj0KCQ_abc-123&ref=INV-2026-000123&empty=&flag#top';
    expect(redactUrl(clean)).toBe(clean);
  });

  it('redacts identifier-named parameters even when the value does not look like one', () => {
    expect(redactUrl('/thanks?phone=6505551212&em=jane')).toBe('/thanks?phone=[phone]&em=[email]');
    const hashed = `/t?em=${'a'.repeat(64)}`;
    expect(redactUrl(hashed)).toBe(hashed);
    expect(redactSearch('?email=a%40b.co&x=1')).toBe('?email=[email]&x=1');
  });

  it('treats unparsable input as text and never throws', () => {
    expect(redactUrl('not a url jane@x.com %E0%A4%A')).toBe('not a url [email] %E0%A4%A');
    expect(redactUrl('http://a.aa#@a.aa')).toBe('http://a.aa#@a.aa');
    expect(redactUrl('http://a.aa#a@a.aa')).toBe('http://a.aa#[email]');
    fc.assert(
      fc.property(fc.webUrl({ withQueryParameters: true, withFragments: true }), fc.string(), (url, junk) => {
        expect(typeof redactUrl(url + junk)).toBe('string');
        // An address needs a local part: `#@a.aa` or `/(@a.aa` (no address characters before the at sign) is not one.
        expect(redactUrl(url)).not.toMatch(/[a-z0-9._%+-]@[a-z0-9-]+\.[a-z]{2,}/i);
      }),
    );
  });
});

describe('guardEvent', () => {
  const event = {
    type: 'track' as const,
    context: {
      page: {
        url: 'https://a.com/checkout?email=jane%40example.com&step=2',
        referrer: 'https://mail.example.com/?to=jane@example.com',
        search: '?email=jane%40example.com&step=2',
        title: 'Thanks jane@example.com',
      },
      traits: { phone: '+44 20 7031 3000' },
    },
    traits: { email: ' Jane@Example.com ' },
    properties: {
      note: 'mail me at jane@example.com or +1 650 555 1212',
      phone: 6505551212,
      total: 12.5,
      items: [{ sku: 'INV-2026-000123', comment: 'for bob@example.org' }],
    },
    identifiers: {},
  };

  it('redacts page fields and properties, hashes identifiers, keeps plaintext traits', () => {
    const guarded = guardEvent(event);
    expect(guarded.context.page).toEqual({
      url: 'https://a.com/checkout?email=[email]&step=2',
      referrer: 'https://mail.example.com/?to=[email]',
      search: '?email=[email]&step=2',
      title: 'Thanks [email]',
    });
    expect(guarded.properties).toEqual({
      note: 'mail me at [email] or [phone]',
      phone: '[phone]',
      total: 12.5,
      items: [{ sku: 'INV-2026-000123', comment: 'for [email]' }],
    });
    expect(guarded.traits).toEqual({ email: ' Jane@Example.com ' });
    expect(guarded.identifiers).toEqual({
      email_sha256: sha256Hex('jane@example.com'),
      phone_sha256: sha256Hex('+442070313000'),
    });
    // The input is not modified (the raw payload is kept for quarantine and debugging).
    expect(event.properties.note).toBe('mail me at jane@example.com or +1 650 555 1212');
  });

  it('prefers existing identifiers and passes hashed traits through', () => {
    const hash = 'B'.repeat(64);
    const guarded = guardEvent({ traits: { email: hash }, properties: { email: 'x@y.com' }, identifiers: {} });
    expect(guarded.identifiers).toEqual({ email_sha256: 'b'.repeat(64) });
    expect(guarded.properties).toEqual({ email: '[email]' });
    const kept = guardEvent({ traits: { email: 'x@y.com' }, identifiers: { email_sha256: 'c'.repeat(64) } });
    expect(kept.identifiers).toEqual({ email_sha256: 'c'.repeat(64) });
  });

  it('finds identifiers in properties when traits have none, and hashes with the canonical variant', () => {
    const guarded = guardEvent(
      { properties: { email: 'Jane.Doe@Gmail.com', phone: '(650) 555-1212' } },
      { defaultCountryCode: 1 },
    );
    expect(guarded.identifiers).toEqual({
      email_sha256: sha256Hex('jane.doe@gmail.com'),
      phone_sha256: sha256Hex('+16505551212'),
    });
  });

  it('keeps a __proto__ key as data without touching the prototype', () => {
    const properties = JSON.parse('{"__proto__": {"polluted": "a@b.com"}, "x": 1}') as Record<string, unknown>;
    const guarded = guardEvent({ properties });
    expect(Object.getPrototypeOf(guarded.properties)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(JSON.stringify(guarded.properties)).toBe('{"__proto__":{"polluted":"[email]"},"x":1}');
  });

  it('redacts beyond the walk depth too', () => {
    let deep: Record<string, unknown> = { leaf: 'call +1 650 555 1212' };
    for (let i = 0; i < 40; i++) deep = { child: deep };
    const guarded = guardEvent({ properties: deep });
    let node = guarded.properties as Record<string, unknown>;
    for (let i = 0; i < 40; i++) node = node.child as Record<string, unknown>;
    expect(node).toEqual({ leaf: 'call [phone]' });
  });
});

describe('redactProperties (copy on write)', () => {
  it('returns the same object when nothing needs redacting', () => {
    const clean = { product_id: 'p-1', price: 19.99, tags: ['a', 'b'], nested: { sku: 'INV-2026-000123', n: 42 } };
    expect(redactProperties(clean)).toBe(clean);
  });

  it('copies only the path to a redacted value and leaves the input untouched', () => {
    const shared = { sku: 'x' };
    const input = { keep: shared, list: [1, { note: 'write to jane@example.com' }], phone: '0301234567' };
    const snapshot = structuredClone(input);
    const out = redactProperties(input) as typeof input;
    expect(out).toEqual({ keep: { sku: 'x' }, list: [1, { note: 'write to [email]' }], phone: '[phone]' });
    expect(out).not.toBe(input);
    expect(out.keep).toBe(shared);
    expect(input).toEqual(snapshot);
  });

  it('keeps a __proto__ key as a plain own property when it copies', () => {
    const input = JSON.parse('{"__proto__": {"polluted": true}, "email": "a@b.co"}') as Record<string, unknown>;
    const out = redactProperties(input);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'email']);
    expect(out.email).toBe('[email]');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('returns an input holding NaN (possible outside JSON) as it is', () => {
    const input = { n: Number.NaN, list: [Number.NaN] };
    expect(redactProperties(input)).toBe(input);
  });

  it('never changes its input, and returns the input itself whenever nothing was redacted', () => {
    const text = fc.oneof(
      fc.string({ maxLength: 12 }),
      fc.constantFrom('jane@example.com', '+1 650 555 1212', 'call 030 1234 5678', 'order 1234567', '2026-01-01'),
    );
    const json = fc.letrec((tie) => ({
      value: fc.oneof(
        { depthSize: 'small' },
        text,
        fc.double(),
        fc.boolean(),
        fc.constant(null),
        fc.array(tie('value'), { maxLength: 3 }),
        fc.dictionary(fc.constantFrom('email', 'phone', 'note', 'e', 'x', 'tel'), tie('value'), { maxKeys: 3 }),
      ),
    })).value;
    fc.assert(
      fc.property(fc.dictionary(fc.string({ maxLength: 6 }), json, { maxKeys: 4 }), (props) => {
        const before = JSON.stringify(props);
        const out = redactProperties(props);
        expect(JSON.stringify(props)).toBe(before);
        expect(JSON.stringify(out)).not.toMatch(/jane@example\.com|650 555 1212|030 1234 5678/);
        if (JSON.stringify(out) === before) expect(out).toBe(props);
      }),
    );
  });
});
