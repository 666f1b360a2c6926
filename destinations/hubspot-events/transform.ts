/**
 * HubSpot behavioral event mapping (pure): a row → one `inputs[]` occurrence `{ eventName, email | utk | objectId,
 * occurredAt, properties }`. The contact is found by a plaintext `email`, a `utk` (HubSpot tracking cookie) or a
 * `objectId` column, mapped in by the sync.
 */
import { accept, refuse, text, timestamp, type Prepared } from '../shared';
import { propertyValue } from '../hubspot/transform';
import type { HubspotEventsConfig } from './config';

export interface HubspotEventInput {
  eventName: string;
  email?: string;
  utk?: string;
  objectId?: string;
  occurredAt: string;
  properties: Record<string, string>;
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@.]+$/;

export function toEventInput(row: Record<string, unknown>, config: HubspotEventsConfig): Prepared<HubspotEventInput> {
  const name = text(row, 'event_name');
  const eventName = (name !== undefined ? config.eventNames[name] : undefined) ?? config.eventName;
  if (!eventName) return refuse(`no HubSpot event configured for event_name ${name ?? '(none)'}`);
  const occurredAt = timestamp(row, 'occurred_at');
  if (!occurredAt) return refuse('occurred_at is missing or not a timestamp');
  const email = text(row, 'email');
  const utk = text(row, 'utk');
  const objectId = text(row, 'objectId');
  if (email !== undefined && !EMAIL.test(email)) return refuse('email is not an email address');
  if (!email && !utk && !objectId)
    return refuse('no email, utk or objectId: HubSpot cannot tie the event to a contact');
  const properties: Record<string, string> = {};
  for (const column of config.properties) {
    const value = propertyValue(row[column]);
    if (value !== undefined) properties[column] = value;
  }
  // One identity only, in HubSpot's order of precedence: a record id, then the email, then the cookie.
  const identity = objectId ? { objectId } : email ? { email: email.toLowerCase() } : { utk: utk as string };
  return accept({ eventName, ...identity, occurredAt: occurredAt.toISOString(), properties });
}
