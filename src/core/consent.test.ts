import fc from 'fast-check';
import { parseConfig } from './config';
import {
  allows,
  consentBasis,
  googleVendorAllowed,
  decodeGcd,
  decodeGcdLetter,
  decodeGcs,
  normalizeConsent,
  normalizeConsentDetailed,
  purposesFor,
} from './consent';
import { consentSchema, type Consent } from './event';

const policy = parseConfig({}, { cwd: '/nonexistent' }).consent;

/*
 * TC strings encoded with @iabtcf/core's TCString.encode against a two-vendor GVL (cmp id 10):
 * FULL: purpose consents 1,3,4,7 and vendor 755.  NO_P7: purposes 1,3,4, P7 only as legitimate interest, vendor 1.
 * NONE: nothing.  ONLY_P1: purpose 1, vendor 755.  P1_TREATMENT: purposeOneTreatment, purposes 3,4, P7 by
 * legitimate interest, vendor 755 (publisher country CH).
 */
const TC_FULL = 'CQdWToAQdWToAAKABBENBkFgALIAAAAAAAYgF5wAQF5gAAAA.YAAAAAAAAAAA';
const TC_NO_P7 = 'CQdWToAQdWToAAKABBENBkFgALAAAAIAAAYgAAoAAAAA.YAAAAAAAAAAA';
const TC_NONE = 'CQdWToAQdWToAAKABBENBkFgAAAAAAAAAAYgAAAAAAAA.YAAAAAAAAAAA';
const TC_ONLY_P1 = 'CQdWToAQdWToAAKABBENBkFgAIAAAAAAAAYgF5wAQF5gAAAA.YAAAAAAAAAAA';
const TC_P1_TREATMENT = 'CQdWToAQdWToAAKABBENBkFgADAAAAIAAIQ4F5wAQF5gAAAA.YAAAAAAAAAAA';

function flags(c: Consent): string {
  return [c.analytics, c.ads, c.ad_user_data, c.ad_personalization].map((b) => (b ? 1 : 0)).join('');
}

describe('gcd / gcs decoding', () => {
  it('decodes every letter of the reference table', () => {
    const table: Record<string, [number, number]> = {
      l: [1, 1],
      p: [2, 1],
      q: [2, 2],
      r: [2, 3],
      t: [3, 1],
      u: [3, 2],
      v: [3, 3],
      m: [1, 2],
      n: [1, 3],
    };
    for (const [letter, [def, upd]] of Object.entries(table)) {
      expect(decodeGcdLetter(letter)).toEqual({ default: def, update: upd });
    }
    expect(decodeGcdLetter('_')).toEqual({ default: 3, update: 3 });
    expect(decodeGcdLetter('0')).toEqual({ default: 0, update: 0 });
    expect(decodeGcdLetter('!')).toBeNull();
  });

  it('reads the four purposes in order, update winning over default', () => {
    // ad_storage r (denied→granted), analytics u (granted→denied), ad_user_data p (denied), ad_pers l (not set)
    expect(decodeGcd('13r3u3p3l5')).toEqual({ ads: true, analytics: false, ad_user_data: false });
    expect(decodeGcd('11t1t1t1t5')).toEqual({
      ads: true,
      analytics: true,
      ad_user_data: true,
      ad_personalization: true,
    });
    expect(decodeGcd('11l1l1l1l1')).toEqual({});
    expect(decodeGcd('1')).toBeNull();
    expect(decodeGcd('11p1p1p1!5')).toBeNull();
  });

  it('reads gcs G1xy', () => {
    expect(decodeGcs('G101')).toEqual({ ads: false, analytics: true });
    expect(decodeGcs('G110')).toEqual({ ads: true, analytics: false });
    expect(decodeGcs('G100x')).toBeNull();
    expect(decodeGcs('G2')).toBeNull();
  });
});

describe('normalizeConsent', () => {
  it('regional default: denied in deny regions, granted elsewhere, policy when unknown', () => {
    const de = normalizeConsent({}, { country: 'de', policy });
    expect(flags(de)).toBe('0000');
    expect(de).toEqual({
      analytics: false,
      ads: false,
      ad_user_data: false,
      ad_personalization: false,
      source: 'default',
      region: 'DE',
    });
    const us = normalizeConsent({}, { country: 'US', policy });
    expect(flags(us)).toBe('1111');
    expect(us.region).toBe('US');
    expect(flags(normalizeConsent({}, { country: null, policy }))).toBe('1111');
    expect(flags(normalizeConsent({}, { policy: { ...policy, unknownRegion: 'denied' } }))).toBe('0000');
  });

  it('gcs alone: ad_user_data and ad_personalization follow ad_storage', () => {
    const c = normalizeConsent({ gcs: 'G101' }, { country: 'US', policy });
    expect(c).toEqual({ analytics: true, ads: false, ad_user_data: false, ad_personalization: false, source: 'gcm' });
    expect(flags(normalizeConsent({ gcs: 'G110' }, { country: 'DE', policy }))).toBe('0111');
  });

  it('gcd decides per purpose, gcs fills what gcd left unset, npa=1 turns off personalization', () => {
    const c = normalizeConsent({ gcs: 'G111', gcd: '13v3v3p3l5' }, { country: 'DE', policy });
    expect(flags(c)).toBe('1101');
    expect(c.source).toBe('gcm');
    expect(flags(normalizeConsent({ gcs: 'G111', npa: '1' }, { country: 'US', policy }))).toBe('1110');
  });

  it('gcd with unset purposes falls through to the regional default', () => {
    const c = normalizeConsent({ gcd: '13v3l3l3l5' }, { country: 'DE', policy });
    expect(flags(c)).toBe('0100');
    expect(c.source).toBe('gcm');
    expect(c.region).toBe('DE');
  });

  it('keeps dma', () => {
    expect(normalizeConsent({ gcs: 'G111', dma: '1' }, { country: 'FR', policy }).dma).toBe(true);
    expect(normalizeConsent({ gcs: 'G111', dma: '0' }, { country: 'FR', policy }).dma).toBe(false);
    expect(normalizeConsent({ gcs: 'G111' }, { country: 'FR', policy }).dma).toBeUndefined();
  });

  it('TCF with gdprApplies follows the Google mapping and records vendor 755', () => {
    const full = normalizeConsent({ tcString: TC_FULL, gdprApplies: true }, { country: 'DE', policy });
    expect(flags(full)).toBe('1111');
    expect(full.source).toBe('tcf');
    expect(full.tcf).toEqual({
      tc_string: TC_FULL,
      gdpr_applies: true,
      cmp_id: 10,
      purposes: [1, 3, 4, 7],
      legitimate_interests: [],
      google_vendor: true,
    });
    // P7 by legitimate interest is enough for ad_user_data (Google accepts consent or legitimate interest there).
    const noP7 = normalizeConsent({ tcString: TC_NO_P7, gdprApplies: true }, { country: 'DE', policy });
    expect(flags(noP7)).toBe('1111');
    expect(noP7.tcf?.legitimate_interests).toEqual([7]);
    expect(noP7.tcf?.google_vendor).toBe(false);
    expect(flags(normalizeConsent({ tcString: TC_NONE, gdprApplies: true }, { country: 'US', policy }))).toBe('0000');
    expect(flags(normalizeConsent({ tcString: TC_ONLY_P1, gdprApplies: true }, { country: 'US', policy }))).toBe(
      '1100',
    );
    const treatment = normalizeConsent({ tcString: TC_P1_TREATMENT, gdprApplies: true }, { country: 'CH', policy });
    expect(flags(treatment)).toBe('1111');
    expect(treatment.tcf?.purposes).toEqual([3, 4]);
  });

  it('TCF outranks Consent Mode; without gdprApplies the TC string is not used', () => {
    const c = normalizeConsent({ tcString: TC_NONE, gdprApplies: true, gcs: 'G111' }, { country: 'DE', policy });
    expect(flags(c)).toBe('0000');
    expect(c.source).toBe('tcf');
    const notApplied = normalizeConsent(
      { tcString: TC_NONE, gdprApplies: false, gcs: 'G111' },
      { country: 'DE', policy },
    );
    expect(flags(notApplied)).toBe('1111');
    expect(notApplied.source).toBe('gcm');
    expect(notApplied.tcf).toBeUndefined();
  });

  it('explicit outranks everything; partial explicit fills the rest from the next source', () => {
    const c = normalizeConsent(
      { explicit: { ads: true }, tcString: TC_NONE, gdprApplies: true, gcs: 'G111' },
      { country: 'DE', policy },
    );
    expect(flags(c)).toBe('0100');
    expect(c.source).toBe('explicit');
    const withGcm = normalizeConsent({ explicit: { analytics: false }, gcs: 'G111' }, { country: 'DE', policy });
    expect(flags(withGcm)).toBe('0111');
    expect(withGcm.source).toBe('explicit');
    const withDefault = normalizeConsent({ explicit: { analytics: true } }, { country: 'DE', policy });
    expect(flags(withDefault)).toBe('1000');
    expect(withDefault.region).toBe('DE');
  });

  it('GPC turns off ads purposes and never grants', () => {
    const c = normalizeConsent(
      { explicit: { analytics: true, ads: true, ad_user_data: true, ad_personalization: true }, gpc: true },
      { country: 'US', policy },
    );
    expect(flags(c)).toBe('1000');
    expect(c.gpc).toBe(true);
    const denied = normalizeConsent({ gpc: true }, { country: 'DE', policy });
    expect(flags(denied)).toBe('0000');
    const ignored = normalizeConsent(
      { gcs: 'G111', gpc: true },
      { country: 'US', policy: { ...policy, honorGpc: false } },
    );
    expect(flags(ignored)).toBe('1111');
    expect(ignored.gpc).toBeUndefined();
  });

  it('invalid gcs, gcd and TC strings fall through with warnings and never throw', () => {
    const d = normalizeConsentDetailed(
      { gcs: 'G1x1', gcd: 'nonsense', tcString: 'garbage', gdprApplies: true },
      { country: 'DE', policy },
    );
    expect(flags(d.consent)).toBe('0000');
    expect(d.consent.source).toBe('default');
    expect(d.warnings).toHaveLength(3);
    expect(d.warnings[0]).toMatch(/^tcf string could not be decoded/);
    expect(d.warnings[1]).toBe('gcd "nonsense": expected a marker digit and four digit+letter pairs');
    expect(d.warnings[2]).toBe('gcs "G1x1": expected G1 followed by two 0/1 digits');
    // TCF v1 strings (retired in 2020) are not read as v2.
    const v1 = normalizeConsentDetailed(
      { tcString: 'BOEFEAyOEFEAyAHABDENAI4AAAB9vABAASA', gdprApplies: true },
      { country: 'DE', policy },
    );
    expect(v1.consent.source).toBe('default');
    expect(v1.warnings).toHaveLength(1);
    const fallback = normalizeConsentDetailed(
      { tcString: '', gdprApplies: true, gcs: 'G101' },
      { country: 'US', policy },
    );
    expect(flags(fallback.consent)).toBe('1000');
    expect(fallback.warnings).toEqual([]);
  });

  it('produces values the canonical consent schema accepts', () => {
    const samples = [
      normalizeConsent({ tcString: TC_FULL, gdprApplies: true, dma: '1', gpc: true }, { country: 'DE', policy }),
      normalizeConsent({}, { policy }),
      normalizeConsent({ explicit: { ads: false } }, { country: 'BR', policy }),
    ];
    for (const s of samples) expect(consentSchema.parse(s)).toEqual(s);
  });
});

describe('policy', () => {
  const granted: Consent = { analytics: true, ads: true, ad_user_data: false, ad_personalization: true, source: 'gcm' };

  it('purposesFor adds ads under its sub-purposes and orders canonically', () => {
    expect(purposesFor(['ad_user_data'])).toEqual(['ads', 'ad_user_data']);
    expect(purposesFor(['ad_personalization', 'analytics', 'analytics'])).toEqual([
      'analytics',
      'ads',
      'ad_personalization',
    ]);
    expect(purposesFor([])).toEqual([]);
    expect(purposesFor(undefined)).toEqual([]);
  });

  it('allows only when every needed purpose is granted', () => {
    expect(allows(granted, ['analytics'])).toBe(true);
    expect(allows(granted, ['ad_personalization'])).toBe(true);
    expect(allows(granted, ['ad_user_data'])).toBe(false);
    expect(allows({ ...granted, ads: false, ad_user_data: true }, ['ad_user_data'])).toBe(false);
    expect(allows(granted, [])).toBe(true);
    expect(allows(null, ['analytics'])).toBe(false);
  });

  it('googleVendorAllowed is false only when a TC string withheld vendor 755', () => {
    expect(googleVendorAllowed(granted)).toBe(true);
    expect(googleVendorAllowed(normalizeConsent({ tcString: TC_FULL, gdprApplies: true }, { policy }))).toBe(true);
    expect(googleVendorAllowed(normalizeConsent({ tcString: TC_NO_P7, gdprApplies: true }, { policy }))).toBe(false);
  });

  it('consentBasis names the source and the granted purposes', () => {
    expect(consentBasis(granted)).toBe('gcm:analytics+ads+ad_personalization');
    expect(consentBasis({ ...granted, ad_user_data: true }, ['ad_user_data'])).toBe('gcm:ads+ad_user_data');
    expect(
      consentBasis({ ...granted, analytics: false, ads: false, ad_personalization: false, source: 'default' }),
    ).toBe('default:none');
    const tcf = normalizeConsent({ tcString: TC_ONLY_P1, gdprApplies: true }, { country: 'DE', policy });
    expect(consentBasis(tcf)).toBe('tcf:analytics+ads;tcf755=1');
    const gpc = normalizeConsent({ gcs: 'G111', gpc: true }, { country: 'US', policy });
    expect(consentBasis(gpc, ['ads'])).toBe('gcm:none;gpc');
  });
});

describe('properties', () => {
  const bool = fc.option(fc.boolean(), { nil: undefined });
  const gcdLetter = fc.constantFrom(...'0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_'.split(''));
  const gcd = fc.oneof(
    fc.string(),
    fc.tuple(gcdLetter, gcdLetter, gcdLetter, gcdLetter).map(([a, b, c, d]) => `13${a}3${b}3${c}3${d}5`),
  );
  const signals = fc.record(
    {
      explicit: fc.record({ analytics: bool, ads: bool, ad_user_data: bool, ad_personalization: bool }),
      gcs: fc.oneof(fc.string(), fc.constantFrom('G100', 'G101', 'G110', 'G111')),
      gcd,
      npa: fc.constantFrom('0', '1', 'x'),
      dma: fc.constantFrom('0', '1', ''),
      tcString: fc.oneof(fc.string(), fc.constantFrom(TC_FULL, TC_NO_P7, TC_NONE, TC_ONLY_P1)),
      gdprApplies: fc.boolean(),
      gpc: fc.boolean(),
    },
    { requiredKeys: [] },
  );
  const country = fc.option(fc.constantFrom('DE', 'US', 'BR', 'gb', ''), { nil: null });

  it('never throws, always yields a valid consent, and GPC never leaves an ads purpose granted', () => {
    fc.assert(
      fc.property(signals, country, (s, c) => {
        const { consent, warnings } = normalizeConsentDetailed(s, { country: c, policy });
        expect(consentSchema.safeParse(consent).success).toBe(true);
        expect(Array.isArray(warnings)).toBe(true);
        if (s.gpc)
          expect([consent.ads, consent.ad_user_data, consent.ad_personalization]).toEqual([false, false, false]);
        if (s.npa === '1' && !s.explicit?.ad_personalization && !consent.tcf) {
          expect(consent.ad_personalization).toBe(false);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('explicit booleans always win for the purposes they name', () => {
    fc.assert(
      fc.property(signals, country, (s, c) => {
        const consent = normalizeConsent({ ...s, gpc: false }, { country: c, policy });
        for (const p of ['analytics', 'ads', 'ad_user_data', 'ad_personalization'] as const) {
          const v = s.explicit?.[p];
          if (v !== undefined) expect(consent[p]).toBe(v);
        }
      }),
      { numRuns: 300 },
    );
  });
});
