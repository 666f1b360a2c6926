/**
 * Consent normalization and the one consent policy (DESIGN.md, principle 5).
 *
 * `normalizeConsent` turns the signals a protocol parser found (explicit booleans, IAB TCF, Google Consent Mode,
 * Global Privacy Control) into the typed `Consent` stored on every event. `allows`, `purposesFor` and
 * `consentBasis` are the only policy the TypeScript side applies; the dbt macros mirror the same tables.
 *
 * Precedence, decided per purpose (a source that says nothing about a purpose lets the next one decide):
 *
 * | Rank | Source     | Used when                                         |
 * |------|------------|---------------------------------------------------|
 * | 1    | `explicit` | the payload carries booleans (`context.consent`)  |
 * | 2    | `tcf`      | `gdprApplies` is true and the TC string decodes    |
 * | 3    | `gcm`      | `gcs`, `gcd` or `npa` decode                       |
 * | 4    | `default`  | always: regional default                          |
 *
 * `Consent.source` is the highest-ranked source that decided at least one purpose.
 *
 * Regional default: country in `policy.denyRegions` → all denied; country unknown → `policy.unknownRegion`;
 * otherwise granted.
 *
 * GPC (`Sec-GPC: 1`, when `policy.honorGpc`): applied after precedence; sets `ads`, `ad_user_data` and
 * `ad_personalization` to false and never grants anything. `analytics` is untouched.
 *
 * Invalid gcs/gcd/TC strings never throw: they are ignored (the next source decides) and reported as warnings.
 */
import { TCString } from '@iabtcf/core';
import type { Config } from './config';
import type { ConsentPurpose } from './destination';
import type { Consent, ConsentSignals, ConsentSource, TcfConsent } from './event';

export type ConsentPolicy = Config['consent'];

export interface ConsentContext {
  /** ISO 3166-1 alpha-2 country of the request (from trusted geo headers), when known. */
  country?: string | null;
  policy: ConsentPolicy;
}

export interface ConsentDecision {
  consent: Consent;
  /** Signals that were present but could not be read, e.g. `gcd "zz": expected ...`. */
  warnings: string[];
}

/** Purposes in their canonical order (also the order of `consentBasis` and of the mart columns). */
export const CONSENT_PURPOSES: readonly ConsentPurpose[] = ['analytics', 'ads', 'ad_user_data', 'ad_personalization'];

type PartialConsent = Partial<Record<ConsentPurpose, boolean>>;

/** Google's vendor id in the IAB Global Vendor List. */
export const GOOGLE_TCF_VENDOR_ID = 755;

/**
 * TCF → Consent Mode mapping, after Google's TCF integration for consent mode and its TCF interoperability
 * rules (support.google.com/admanager/answer/9805023):
 *
 * | Consent field        | IAB purposes needed                                       |
 * |----------------------|-----------------------------------------------------------|
 * | `ads` (ad_storage)   | P1 (store/access information on a device)                 |
 * | `ad_user_data`       | P1, and P7 (measure ad performance) by consent or legitimate interest |
 * | `ad_personalization` | P3 and P4 (personalised ads profile and selection), by consent |
 * | `analytics`          | P1                                                        |
 *
 * P1 also counts as given when the string sets `purposeOneTreatment` (jurisdictions such as Switzerland where
 * the publisher does not ask for P1; Google accepts that when the string says so).
 * Google vendor 755 consent is recorded in `tcf.google_vendor` and not folded into the purposes: the purposes
 * govern every destination, the vendor bit only Google's (see `googleVendorAllowed`).
 */
function decodeTcf(tcString: string): { consent: PartialConsent; tcf: TcfConsent } {
  const model = TCString.decode(tcString);
  const purposes: number[] = [];
  const legitimate: number[] = [];
  // IAB TCF v2 defines purposes 1..11 (v2.2); higher ids are not in the policy.
  for (let id = 1; id <= 11; id++) {
    if (model.purposeConsents.has(id)) purposes.push(id);
    if (model.purposeLegitimateInterests.has(id)) legitimate.push(id);
  }
  const p1 = purposes.includes(1) || model.purposeOneTreatment === true;
  const p7 = purposes.includes(7) || legitimate.includes(7);
  const consent: PartialConsent = {
    analytics: p1,
    ads: p1,
    ad_user_data: p1 && p7,
    ad_personalization: purposes.includes(3) && purposes.includes(4),
  };
  return {
    consent,
    tcf: {
      tc_string: tcString,
      gdpr_applies: true,
      cmp_id: typeof model.cmpId === 'number' && Number.isInteger(model.cmpId) ? model.cmpId : null,
      purposes,
      legitimate_interests: legitimate,
      google_vendor: model.vendorConsents.has(GOOGLE_TCF_VENDOR_ID),
    },
  };
}

/**
 * Whether Google's vendor (755) may receive data: true unless a TC string applied and withheld its consent.
 * Google destinations check this on top of `allows`.
 */
export function googleVendorAllowed(consent: Pick<Consent, 'tcf'> | null | undefined): boolean {
  return consent?.tcf?.google_vendor !== false;
}

/** Consent Mode `gcd` letter alphabet (reference §8): a letter's index encodes default and update state. */
const GCD_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_';

/** gcd state: 1 = not set, 2 = denied, 3 = granted (0 is unused and read as not set). */
export function decodeGcdLetter(letter: string): { default: number; update: number } | null {
  const index = GCD_ALPHABET.indexOf(letter);
  if (letter.length !== 1 || index < 0) return null;
  return { default: (index >> 2) & 3, update: index & 3 };
}

function gcdState(letter: string): boolean | undefined {
  const decoded = decodeGcdLetter(letter);
  if (!decoded) return undefined;
  // The update (a `gtag('consent', 'update', ...)`) wins over the default when it is set.
  const state = decoded.update >= 2 ? decoded.update : decoded.default;
  if (state === 3) return true;
  if (state === 2) return false;
  return undefined;
}

/**
 * `gcd` such as `11p1p1p1p5`: a leading marker digit, then four digit+letter pairs for ad_storage,
 * analytics_storage, ad_user_data and ad_personalization, then a closing marker. Newer tags append more
 * characters; only the first four letters are read.
 */
const GCD_PATTERN = /^\d(?:\d[0-9a-zA-Z_-]){4}/;
const GCD_ORDER: ConsentPurpose[] = ['ads', 'analytics', 'ad_user_data', 'ad_personalization'];

export function decodeGcd(gcd: string): PartialConsent | null {
  if (!GCD_PATTERN.test(gcd)) return null;
  const out: PartialConsent = {};
  GCD_ORDER.forEach((purpose, i) => {
    const state = gcdState(gcd[2 + i * 2]);
    if (state !== undefined) out[purpose] = state;
  });
  return out;
}

/** `gcs` = `G1` + ad_storage digit + analytics_storage digit (1 granted, 0 denied). */
export function decodeGcs(gcs: string): PartialConsent | null {
  const m = /^G1([01])([01])$/.exec(gcs);
  if (!m) return null;
  const ads = m[1] === '1';
  return { ads, analytics: m[2] === '1' };
}

/**
 * Google Consent Mode:
 *
 * | Signal       | Effect                                                                        |
 * |--------------|-------------------------------------------------------------------------------|
 * | `gcd` letter | per purpose: update state if set, else default state; "not set" says nothing  |
 * | `gcs` G1xy   | ads ← x, analytics ← y, for purposes gcd left unset                          |
 * | `gcs` alone  | ad_user_data and ad_personalization follow ads (Consent Mode v1 semantics)     |
 * | `npa=1`      | ad_personalization = false                                                    |
 */
function decodeGcm(signals: ConsentSignals, warnings: string[]): PartialConsent {
  const out: PartialConsent = {};
  if (signals.gcd) {
    const gcd = decodeGcd(signals.gcd);
    if (gcd) Object.assign(out, gcd);
    else warnings.push(`gcd ${JSON.stringify(signals.gcd)}: expected a marker digit and four digit+letter pairs`);
  }
  if (signals.gcs) {
    const gcs = decodeGcs(signals.gcs);
    if (gcs) {
      out.ads ??= gcs.ads;
      out.analytics ??= gcs.analytics;
      out.ad_user_data ??= gcs.ads;
      out.ad_personalization ??= gcs.ads;
    } else {
      warnings.push(`gcs ${JSON.stringify(signals.gcs)}: expected G1 followed by two 0/1 digits`);
    }
  }
  if (signals.npa === '1') out.ad_personalization = false;
  return out;
}

function regionalDefault(ctx: ConsentContext): { granted: boolean; region: string | null } {
  const country = ctx.country ? ctx.country.trim().toUpperCase() : '';
  if (!country) return { granted: ctx.policy.unknownRegion === 'granted', region: null };
  const denied = ctx.policy.denyRegions.some((r) => r.toUpperCase() === country);
  return { granted: !denied, region: country };
}

function readDma(dma: string | undefined): boolean | undefined {
  if (dma === '1') return true;
  if (dma === '0') return false;
  return undefined;
}

/** Normalized consent plus the warnings for signals that could not be read. Never throws on bad signals. */
export function normalizeConsentDetailed(signals: ConsentSignals, ctx: ConsentContext): ConsentDecision {
  const warnings: string[] = [];
  const layers: Array<{ source: ConsentSource; consent: PartialConsent }> = [];

  if (signals.explicit) {
    const explicit: PartialConsent = {};
    for (const purpose of CONSENT_PURPOSES) {
      const v = signals.explicit[purpose];
      if (typeof v === 'boolean') explicit[purpose] = v;
    }
    layers.push({ source: 'explicit', consent: explicit });
  }

  let tcf: TcfConsent | undefined;
  if (signals.tcString && signals.gdprApplies === true) {
    try {
      const decoded = decodeTcf(signals.tcString);
      tcf = decoded.tcf;
      layers.push({ source: 'tcf', consent: decoded.consent });
    } catch (err) {
      warnings.push(`tcf string could not be decoded: ${(err as Error).message}`);
    }
  }

  layers.push({ source: 'gcm', consent: decodeGcm(signals, warnings) });

  const fallback = regionalDefault(ctx);
  const resolved = {} as Record<ConsentPurpose, boolean>;
  let source: ConsentSource = 'default';
  let defaultUsed = false;
  let sourceRank = layers.length;
  for (const purpose of CONSENT_PURPOSES) {
    const index = layers.findIndex((l) => l.consent[purpose] !== undefined);
    if (index < 0) {
      resolved[purpose] = fallback.granted;
      defaultUsed = true;
    } else {
      resolved[purpose] = layers[index].consent[purpose] as boolean;
      if (index < sourceRank) {
        sourceRank = index;
        source = layers[index].source;
      }
    }
  }

  const gpc = signals.gpc === true && ctx.policy.honorGpc;
  if (gpc) {
    resolved.ads = false;
    resolved.ad_user_data = false;
    resolved.ad_personalization = false;
  }

  const consent: Consent = { ...resolved, source };
  if (tcf) consent.tcf = tcf;
  if (defaultUsed && fallback.region) consent.region = fallback.region;
  if (gpc) consent.gpc = true;
  const dma = readDma(signals.dma);
  if (dma !== undefined) consent.dma = dma;
  return { consent, warnings };
}

export function normalizeConsent(signals: ConsentSignals, ctx: ConsentContext): Consent {
  return normalizeConsentDetailed(signals, ctx).consent;
}

/**
 * The purposes a destination really needs. Mirrored by the dbt macro `consent_allows(purposes)`.
 *
 * | Declared               | Needs                                  |
 * |------------------------|----------------------------------------|
 * | `analytics`            | consent_analytics                      |
 * | `ads`                  | consent_ads                            |
 * | `ad_user_data`         | consent_ads AND consent_ad_user_data   |
 * | `ad_personalization`   | consent_ads AND consent_ad_personalization |
 * | nothing                | always allowed (e.g. a CRM upsert under its own legal basis) |
 *
 * Sending user data or building audiences for ads is an ads use first, so both sub-purposes imply `ads`.
 * SQL mirror: `{{ consent_allows(['ad_user_data']) }}` → `(consent_ads and consent_ad_user_data)`; an empty list
 * → `true`. Each purpose `p` is the boolean column `consent_<p>`; NULL counts as not granted (`coalesce(col, false)`).
 */
export function purposesFor(destinationPurposes: readonly ConsentPurpose[] | null | undefined): ConsentPurpose[] {
  const wanted = new Set<ConsentPurpose>(destinationPurposes ?? []);
  if (wanted.has('ad_user_data') || wanted.has('ad_personalization')) wanted.add('ads');
  return CONSENT_PURPOSES.filter((p) => wanted.has(p));
}

/** True when every purpose `purposesFor(purposes)` names is granted. Missing consent allows nothing. */
export function allows(consent: Consent | null | undefined, purposes: readonly ConsentPurpose[]): boolean {
  const needed = purposesFor(purposes);
  if (needed.length === 0) return true;
  if (!consent) return false;
  return needed.every((p) => consent[p] === true);
}

/**
 * Short text stored in the delivery ledger with each send: `<source>:<granted purposes joined by +>`, `none`
 * when nothing is granted, then `;gpc` when Global Privacy Control applied and `;tcf755=0|1` for TCF.
 * With `purposes`, only those (after `purposesFor`) are listed: the basis the send relied on.
 * Example: `gcm:ads+ad_user_data`, `tcf:analytics+ads;tcf755=1`, `default:none`.
 */
export function consentBasis(consent: Consent, purposes?: readonly ConsentPurpose[]): string {
  const considered = purposes ? purposesFor(purposes) : CONSENT_PURPOSES;
  const granted = considered.filter((p) => consent[p] === true);
  let basis = `${consent.source}:${granted.length ? granted.join('+') : 'none'}`;
  if (consent.gpc) basis += ';gpc';
  if (consent.tcf && consent.tcf.google_vendor !== null && consent.tcf.google_vendor !== undefined) {
    basis += `;tcf755=${consent.tcf.google_vendor ? 1 : 0}`;
  }
  return basis;
}
