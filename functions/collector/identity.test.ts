import { parseConfig } from '../../src/core/config';
import {
  buildIdCookie,
  buildIdDeleteCookie,
  isFirstPartyId,
  newFirstPartyId,
  registrableDomain,
  resolveIdentity,
} from './identity';

const now = new Date('2026-11-22T10:00:00Z');
const granted = { analytics: true };
const denied = { analytics: false };
const cookieId = 'q1w2e3r4t5y6u7i8o9p0aZ';
const uuid = '3f2504e0-4f89-41d3-9a0c-0305e82c3301';

describe('newFirstPartyId', () => {
  it('is 128 random bits, URL-safe, and unique', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => newFirstPartyId()));
    expect(ids.size).toBe(1000);
    for (const id of ids) {
      expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(Buffer.from(id, 'base64url')).toHaveLength(16);
      expect(encodeURIComponent(id)).toBe(id);
    }
  });
});

describe('resolveIdentity', () => {
  it('reads the cookie back and prefers it over the client id', () => {
    expect(resolveIdentity({ cookieValue: cookieId, clientAnonymousId: uuid, consent: granted, now })).toEqual({
      anonymousId: cookieId,
      setCookie: true,
      source: 'cookie',
    });
  });

  it('creates an id when there is no cookie, never promoting the client id', () => {
    const r = resolveIdentity({ cookieValue: null, clientAnonymousId: uuid, consent: granted, now });
    expect(r.source).toBe('new');
    expect(r.setCookie).toBe(true);
    expect(r.anonymousId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(r.anonymousId).not.toBe(uuid);
  });

  it('replaces an invalid cookie and uses newId when given', () => {
    const r = resolveIdentity({ cookieValue: 'bad value;', clientAnonymousId: '1234.5678', consent: granted, now });
    expect(r.source).toBe('new');
    expect(r.setCookie).toBe(true);
    expect(r.anonymousId).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(
      resolveIdentity({ cookieValue: undefined, clientAnonymousId: null, consent: granted, now, newId: cookieId }),
    ).toEqual({ anonymousId: cookieId, setCookie: true, source: 'new' });
  });

  it('without analytics consent: no id at all and no cookie', () => {
    expect(resolveIdentity({ cookieValue: cookieId, clientAnonymousId: uuid, consent: denied, now })).toEqual({
      anonymousId: null,
      setCookie: false,
      source: null,
    });
    expect(resolveIdentity({ cookieValue: null, clientAnonymousId: null, consent: denied, now })).toEqual({
      anonymousId: null,
      setCookie: false,
      source: null,
    });
  });

  it('rejects values that are not ids', () => {
    for (const bad of [
      '',
      'short',
      'a'.repeat(65),
      'has space in it 1234567890',
      'semi;colon1234567890123',
      42,
      null,
    ]) {
      expect(isFirstPartyId(bad)).toBe(false);
    }
    expect(isFirstPartyId(uuid)).toBe(true);
  });
});

describe('buildIdCookie', () => {
  const cookie = parseConfig({}, { cwd: '/nonexistent' }).cookie;

  it('builds an HttpOnly, Secure, Lax cookie with the configured lifetime', () => {
    expect(
      buildIdCookie(cookieId, {
        name: cookie.name,
        domain: null,
        maxAgeDays: cookie.maxAgeDays,
        secure: cookie.secure,
      }),
    ).toBe(`tp_id=${cookieId}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=34560000`);
  });

  it('adds Domain only when configured, caps at 400 days, and drops Secure only when asked', () => {
    expect(buildIdCookie(cookieId, { name: 'fpid', domain: '.Example.com', maxAgeDays: 30, secure: true })).toBe(
      `fpid=${cookieId}; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=2592000; Domain=example.com`,
    );
    expect(buildIdCookie(cookieId, { name: 'fpid', maxAgeDays: 1000, secure: false })).toBe(
      `fpid=${cookieId}; HttpOnly; SameSite=Lax; Path=/; Max-Age=34560000`,
    );
  });

  it('builds the cookie that deletes the id', () => {
    const expected =
      'tp_id=; HttpOnly; Secure; SameSite=Lax; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Domain=example.com';
    expect(buildIdDeleteCookie({ name: 'tp_id', domain: 'example.com', secure: true })).toBe(expected);
    expect(buildIdCookie('', { name: 'tp_id', domain: 'example.com', maxAgeDays: 0, secure: true })).toBe(expected);
  });

  it('refuses values that would break the header', () => {
    expect(() => buildIdCookie('x; Domain=evil.com', { name: 'tp_id', maxAgeDays: 1, secure: true })).toThrow(
      'cookie value is not a first-party id',
    );
    expect(() => buildIdCookie(cookieId, { name: 'bad name', maxAgeDays: 1, secure: true })).toThrow(/not a token/);
    expect(() =>
      buildIdCookie(cookieId, { name: 'tp_id', domain: 'a.com; Secure', maxAgeDays: 1, secure: true }),
    ).toThrow(/not a host name/);
  });
});

describe('registrableDomain', () => {
  it('uses the public suffix list, private suffixes included', () => {
    expect(registrableDomain('www.shop.example.co.uk')).toBe('example.co.uk');
    expect(registrableDomain('collect.example.com:8443')).toBe('example.com');
    expect(registrableDomain('Example.COM')).toBe('example.com');
    expect(registrableDomain('my-site.github.io')).toBe('my-site.github.io');
    expect(registrableDomain('localhost')).toBeNull();
    expect(registrableDomain('127.0.0.1')).toBeNull();
    expect(registrableDomain('')).toBeNull();
  });
});
