/**
 * The destinations' door to the one PII kit (src/core/pii.ts). Mart identifiers arrive already hashed (the kit
 * passes 64-hex values through); what is left to hash here are ids and plain columns vendors want hashed.
 */
import { hashIdentifier, type IdentifierKind, type PiiVariant } from '../src/core/pii';

/** The vendor variants destinations hash for. */
export type Variant = Extract<PiiVariant, 'meta' | 'ga4' | 'google_dm' | 'tiktok'>;

export { isSha256Hex } from '../src/core/pii';

/** SHA-256 hex of an id; ids are opaque, so the kit only trims them. */
export function hashExternalId(value: string, variant: PiiVariant): string | undefined {
  return hashIdentifier('external_id', value, variant) ?? undefined;
}

/** Normalized and hashed per the vendor's rules; undefined when the value is unusable. */
export function hashFor(kind: IdentifierKind, value: unknown, variant: PiiVariant): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  return hashIdentifier(kind, value, variant) ?? undefined;
}
