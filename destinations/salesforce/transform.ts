/**
 * Salesforce upsert mapping (pure): a `marts.users` row (after the sync's field mapping, so its columns are
 * field API names) → one collections record `{ attributes: { type }, <externalIdField>: value, …fields }`.
 */
import { CONSENT_COLUMNS, accept, refuse, text, toDate, type Prepared } from '../shared';
import type { SalesforceConfig } from './config';

export type SalesforceRecord = { attributes: { type: string } } & Record<string, unknown>;

export function toRecord(row: Record<string, unknown>, config: SalesforceConfig): Prepared<SalesforceRecord> {
  const externalId = text(row, config.externalIdField);
  if (!externalId) return refuse(`${config.externalIdField} is missing: the upsert matches on it`);
  const record: SalesforceRecord = { attributes: { type: config.object } };
  const columns = config.fields ?? Object.keys(row).filter((key) => !CONSENT_COLUMNS.has(key));
  for (const column of columns) {
    const value = fieldValue(row[column]);
    // Absent values are left out rather than sent as null: null would blank the field in Salesforce.
    if (value !== undefined) record[column] = value;
  }
  record[config.externalIdField] = externalId;
  return accept(record);
}

export function fieldValue(value: unknown): string | number | boolean | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : undefined;
  if (typeof value === 'bigint') return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Date) return toDate(value)?.toISOString();
  return JSON.stringify(value);
}

export function requestBody(records: SalesforceRecord[]): { allOrNone: false; records: SalesforceRecord[] } {
  // allOrNone false: each record succeeds or fails on its own, so one bad row does not hold back the others.
  return { allOrNone: false, records };
}
