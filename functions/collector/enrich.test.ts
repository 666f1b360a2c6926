import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import { parseConfig } from '../../src/core/config';
import { applyIpPolicy, campaignFromUrl, clickIdsFromUrl, geoFromHeaders, parseIp, parseUserAgent } from './enrich';

const config = parseConfig({}, { cwd: '/nonexistent' });
const ipPolicy = config.ip;

describe('parseUserAgent', () => {
  it('reads an iPhone Safari', () => {
    const ua =
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1';
    expect(parseUserAgent(ua)).toEqual({
      type: 'mobile',
      vendor: 'Apple',
      model: 'iPhone',
      browser: 'Mobile Safari',
      browser_version: '17.1',
      os: 'iOS',
      os_version: '17.1',
      is_bot: false,
    });
  });

  it('reads desktop Chrome on Windows as desktop', () => {
    const ua =
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
    expect(parseUserAgent(ua)).toEqual({
      type: 'desktop',
      browser: 'Chrome',
      browser_version: '131.0.0.0',
      os: 'Windows',
      os_version: '10',
      is_bot: false,
    });
  });

  it('flags crawlers', () => {
    const bot = parseUserAgent('Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)');
    expect(bot.is_bot).toBe(true);
    expect(bot.type).toBe('bot');
    expect(parseUserAgent('curl/8.5.0').is_bot).toBe(true);
  });

  it('returns only what it recognised, so SDK-sent device fields survive a merge', () => {
    expect(parseUserAgent('')).toEqual({ is_bot: false });
    expect(parseUserAgent(null)).toEqual({ is_bot: false });
    const sdk = { type: 'ios', model: 'iPhone14,2', vendor: 'Apple' };
    expect({ ...sdk, ...parseUserAgent('MyShop/5.2 (build 311) CFNetwork/1494.0.7 Darwin/23.4.0') }).toMatchObject(sdk);
  });
});

describe('applyIpPolicy', () => {
  it('truncates IPv4 to /24 and IPv6 to /48 by default', () => {
    expect(applyIpPolicy('203.0.113.195', ipPolicy)).toBe('203.0.113.0');
    expect(applyIpPolicy('2001:db8:85a3:8d3:1319:8a2e:370:7348', ipPolicy)).toBe('2001:db8:85a3::');
    expect(applyIpPolicy('2001:0DB8:0000:0001::1', ipPolicy)).toBe('2001:db8::');
  });

  it('unwraps IPv4-mapped IPv6, ports and zone ids', () => {
    expect(applyIpPolicy('::ffff:198.51.100.77', ipPolicy)).toBe('198.51.100.0');
    expect(applyIpPolicy('198.51.100.77:52311', ipPolicy)).toBe('198.51.100.0');
    expect(applyIpPolicy('[2001:db8:1:2::5]:443', ipPolicy)).toBe('2001:db8:1::');
    expect(applyIpPolicy('fe80::1%eth0', ipPolicy)).toBe('fe80::');
  });

  it('honours other prefixes, full and drop', () => {
    expect(applyIpPolicy('203.0.113.195', { ...ipPolicy, v4PrefixBits: 16 })).toBe('203.0.0.0');
    expect(applyIpPolicy('203.0.113.195', { ...ipPolicy, v4PrefixBits: 20 })).toBe('203.0.112.0');
    expect(applyIpPolicy('2001:db8:abcd:1234::1', { ...ipPolicy, v6PrefixBits: 56 })).toBe('2001:db8:abcd:1200::');
    expect(applyIpPolicy('::ffff:198.51.100.77', { ...ipPolicy, policy: 'full' })).toBe('198.51.100.77');
    expect(applyIpPolicy('2001:0db8::0001', { ...ipPolicy, policy: 'full' })).toBe('2001:db8::1');
    expect(applyIpPolicy('203.0.113.195', { ...ipPolicy, policy: 'drop' })).toBeNull();
  });

  it('gives null for invalid input', () => {
    for (const bad of [
      '',
      'unknown',
      '1.2.3',
      '256.1.1.1',
      '0x7f.0.0.1',
      '1.2.3.4.5',
      'gggg::1',
      ' , ',
      null,
      undefined,
    ]) {
      expect(applyIpPolicy(bad, ipPolicy)).toBeNull();
    }
  });

  const v4 = fc.ipV4().map((s) => ({ s, bits: 32 }));
  const v6 = fc.ipV6().map((s) => ({ s, bits: 128 }));

  it('property: the truncated address lies within the original prefix and truncation is idempotent', () => {
    fc.assert(
      fc.property(fc.oneof(v4, v6), fc.integer({ min: 0, max: 128 }), ({ s }, rawBits) => {
        const original = parseIp(s);
        expect(original).not.toBeNull();
        if (!original) return;
        const bits = original.kind() === 'ipv4' ? rawBits % 33 : rawBits;
        const policy = { ...ipPolicy, v4PrefixBits: bits % 33, v6PrefixBits: bits };
        const truncated = applyIpPolicy(s, policy);
        expect(truncated).not.toBeNull();
        const t = ipaddr.parse(truncated as string);
        expect(t.kind()).toBe(original.kind());
        const prefix = original.kind() === 'ipv4' ? policy.v4PrefixBits : policy.v6PrefixBits;
        expect((t as ipaddr.IPv4).match(original as ipaddr.IPv4, prefix)).toBe(true);
        expect(applyIpPolicy(truncated, policy)).toBe(truncated);
      }),
      { numRuns: 500 },
    );
  });
});

describe('geoFromHeaders', () => {
  const geo = {
    countryHeader: 'X-Client-Geo-Country',
    regionHeader: 'X-Client-Geo-Region',
    cityHeader: 'X-Client-Geo-City',
  };

  it('reads only the configured headers', () => {
    const headers = { 'x-client-geo-country': 'de', 'x-client-geo-region': 'DEBY', 'x-client-geo-city': 'Munich' };
    expect(geoFromHeaders(headers, geo)).toEqual({ country: 'DE', region: 'DE-BY', city: 'Munich' });
    expect(geoFromHeaders(headers, config.geo)).toEqual({ country: null, region: null, city: null });
    expect(geoFromHeaders({ 'cf-ipcountry': 'US' }, geo)).toEqual({ country: null, region: null, city: null });
  });

  it('drops unknown and malformed values', () => {
    expect(geoFromHeaders({ 'x-client-geo-country': 'ZZ', 'x-client-geo-region': 'US-CA' }, geo)).toEqual({
      country: null,
      region: 'US-CA',
      city: null,
    });
    expect(
      geoFromHeaders(
        { 'x-client-geo-country': 'Germany', 'x-client-geo-region': 'FRIDF', 'x-client-geo-city': 'x'.repeat(200) },
        {
          ...geo,
        },
      ),
    ).toEqual({ country: null, region: 'FR-IDF', city: null });
    expect(geoFromHeaders({ 'x-client-geo-country': ['US', 'DE'], 'x-client-geo-region': 'DEBY' }, geo)).toEqual({
      country: 'US',
      region: null,
      city: null,
    });
  });
});

describe('clickIdsFromUrl', () => {
  const now = new Date('2026-11-22T10:00:00.000Z');
  const nowMs = now.getTime();

  it('extracts every click id, preserving fbclid case', () => {
    const url =
      'https://www.example.com/landing?gclid=Cj0KCQiA_x-y&gbraid=0AAAAAD&wbraid=CjkKEQ&fbclid=IwAR2Xyz_AbC&ttclid=E.C.P.abc&MSCLKID=5f3e&li_fat_id=1a2b-3c';
    expect(clickIdsFromUrl(url, { now, cookieDomain: 'example.com' })).toEqual({
      gclid: 'Cj0KCQiA_x-y',
      gbraid: '0AAAAAD',
      wbraid: 'CjkKEQ',
      fbclid: 'IwAR2Xyz_AbC',
      fbc: `fb.1.${nowMs}.IwAR2Xyz_AbC`,
      ttclid: 'E.C.P.abc',
      msclkid: '5f3e',
      li_fat_id: '1a2b-3c',
    });
  });

  it('fbc subdomain index follows the registrable domain', () => {
    const url = 'https://shop.example.co.uk/?fbclid=AbC';
    expect(clickIdsFromUrl(url, { now, cookieDomain: 'shop.example.co.uk' }).fbc).toBe(`fb.2.${nowMs}.AbC`);
    expect(clickIdsFromUrl(url, { now: nowMs, cookieDomain: null }).fbc).toBe(`fb.1.${nowMs}.AbC`);
  });

  it('prefers an existing _fbc cookie with the same fbclid, and reads _fbp', () => {
    const url = 'https://www.example.com/?fbclid=AbC';
    const cookies = { _fbc: 'fb.1.1700000000000.AbC', _fbp: 'fb.1.1700000000000.1234567890' };
    expect(clickIdsFromUrl(url, { now, cookieDomain: 'example.com', cookies })).toEqual({
      fbclid: 'AbC',
      fbc: 'fb.1.1700000000000.AbC',
      fbp: 'fb.1.1700000000000.1234567890',
    });
    // A new click replaces the old cookie's fbclid.
    expect(
      clickIdsFromUrl('https://www.example.com/?fbclid=NEW', { now, cookieDomain: 'example.com', cookies }).fbc,
    ).toBe(`fb.1.${nowMs}.NEW`);
    // Without a click, the cookie still carries the earlier one.
    expect(clickIdsFromUrl('https://www.example.com/', { now, cookies })).toEqual({
      fbc: 'fb.1.1700000000000.AbC',
      fbp: 'fb.1.1700000000000.1234567890',
    });
    expect(clickIdsFromUrl('https://www.example.com/', { now, cookies: { _fbp: 'garbage', _fbc: 'fb.x' } })).toEqual(
      {},
    );
  });

  it("falls back to the vendors' click-id cookies when the URL has none; the URL wins", () => {
    const cookies = { _gcl_aw: 'GCL.1700000000.CjwKOld', _uetmsclkid: '_uet5f3eOld', li_fat_id: 'abc-123' };
    expect(clickIdsFromUrl('https://www.example.com/checkout', { now, cookies })).toEqual({
      gclid: 'CjwKOld',
      msclkid: '5f3eOld',
      li_fat_id: 'abc-123',
    });
    expect(clickIdsFromUrl('https://www.example.com/?gclid=New&msclkid=NewMs', { now, cookies })).toEqual({
      gclid: 'New',
      msclkid: 'NewMs',
      li_fat_id: 'abc-123',
    });
    expect(
      clickIdsFromUrl('/', { now, cookies: { _gcl_aw: 'GCL.x.bad', _uetmsclkid: 'nope', li_fat_id: 'a b' } }),
    ).toEqual({});
  });

  it('ignores values that are not tokens', () => {
    expect(clickIdsFromUrl('https://a.com/?gclid=has%20space&fbclid=&ttclid=ok', { now })).toEqual({ ttclid: 'ok' });
    expect(clickIdsFromUrl('/relative/path?gclid=abc', { now })).toEqual({ gclid: 'abc' });
  });

  it('property: never throws on arbitrary input', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.string(), fc.webUrl({ withQueryParameters: true, withFragments: true })),
        fc.option(fc.domain()),
        (url, domain) => {
          const out = clickIdsFromUrl(url, { now, cookieDomain: domain, cookies: { _fbc: url } });
          expect(typeof out).toBe('object');
          expect(typeof campaignFromUrl(url)).toBe('object');
        },
      ),
      { numRuns: 150 },
    );
  });
});

describe('campaignFromUrl', () => {
  it('maps utm parameters', () => {
    expect(
      campaignFromUrl(
        'https://example.com/?utm_source=newsletter&utm_medium=email&utm_campaign=black%20friday&utm_term=shoes&utm_content=hero&utm_id=42',
      ),
    ).toEqual({
      source: 'newsletter',
      medium: 'email',
      name: 'black friday',
      term: 'shoes',
      content: 'hero',
      id: '42',
    });
    expect(campaignFromUrl('https://example.com/?utm_source=&x=1')).toEqual({});
    expect(campaignFromUrl('::not a url::')).toEqual({});
    expect(campaignFromUrl(null)).toEqual({});
  });
});
