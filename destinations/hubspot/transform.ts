/**
 * HubSpot contact upsert mapping (pure): a `marts.users` row (after the sync's field mapping, so its columns are
 * HubSpot property names) → one `inputs[]` entry `{ id, idProperty, properties }`.
 */
import { CONSENT_COLUMNS, accept, refuse, text, toDate, type Prepared } from '../shared';
import type { HubspotConfig } from './config';

export interface HubspotInput {
  id: string;
  idProperty: string;
  properties: Record<string, string>;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;

export function toInput(row: Record<string, unknown>, config: HubspotConfig): Prepared<HubspotInput> {
  const id = text(row, config.idProperty);
  if (!id) return refuse(`${config.idProperty} is missing: it identifies the contact`);
  if (config.idProperty === 'email' && !EMAIL.test(id)) return refuse('email is not an email address');
  const columns =
    config.properties ?? Object.keys(row).filter((key) => key !== config.idProperty && !CONSENT_COLUMNS.has(key));
  const properties: Record<string, string> = {};
  for (const column of columns) {
    const value = propertyValue(row[column]);
    // Absent values are left out rather than sent empty: an empty string would clear the property in HubSpot.
    if (value !== undefined) properties[column] = value;
  }
  return accept({
    id: config.idProperty === 'email' ? id.toLowerCase() : id,
    idProperty: config.idProperty,
    properties,
  });
}

/** HubSpot property values are strings; dates go as ISO-8601, lists and objects as JSON. */
export function propertyValue(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'bigint' || typeof value === 'boolean') return String(value);
  if (value instanceof Date) return toDate(value)?.toISOString();
  return JSON.stringify(value);
}
