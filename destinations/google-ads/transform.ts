/**
 * Data Manager API mapping (pure): `marts.conversions` rows → `events:ingest` events, `marts.audience_members`
 * rows → `audienceMembers:ingest|remove` members. Identifiers arrive hashed (lowercase SHA-256 hex), so requests
 * declare `encoding: HEX`.
 */
import type { SyncRecord } from '../../src/core/destination';
import { accept, boolean, compact, identifierHash, numeric, refuse, text, timestamp, type Prepared } from '../shared';
import type { GoogleAdsConfig } from './config';

type ConsentStatus = 'CONSENT_GRANTED' | 'CONSENT_DENIED';
export interface DmConsent {
  adUserData?: ConsentStatus;
  adPersonalization?: ConsentStatus;
}
export interface DmUserData {
  userIdentifiers: ({ emailAddress: string } | { phoneNumber: string })[];
}
export interface DmEvent {
  transactionId: string;
  eventTimestamp: string;
  eventSource: 'WEB';
  adIdentifiers?: { gclid?: string; gbraid?: string; wbraid?: string };
  userData?: DmUserData;
  consent?: DmConsent;
  currency?: string;
  conversionValue?: number;
}
export interface DmMember {
  userData: DmUserData;
  consent?: DmConsent;
}
export interface DmDestination {
  operatingAccount: { accountId: string; accountType: string };
  loginAccount?: { accountId: string; accountType: string };
  productDestinationId: string;
}

const status = (value: boolean | undefined): ConsentStatus | undefined =>
  value === undefined ? undefined : value ? 'CONSENT_GRANTED' : 'CONSENT_DENIED';

function consentOf(row: Record<string, unknown>): DmConsent | undefined {
  const consent = compact({
    adUserData: status(boolean(row, 'consent_ad_user_data')),
    adPersonalization: status(boolean(row, 'consent_ad_personalization')),
  });
  return Object.keys(consent).length > 0 ? consent : undefined;
}

function userDataOf(row: Record<string, unknown>): { userData?: DmUserData; error?: string } {
  const email = identifierHash(row, 'email', 'google_dm');
  const phone = identifierHash(row, 'phone', 'google_dm');
  if (email.error || phone.error) return { error: email.error ?? phone.error };
  const userIdentifiers: DmUserData['userIdentifiers'] = [];
  if (email.value) userIdentifiers.push({ emailAddress: email.value });
  if (phone.value) userIdentifiers.push({ phoneNumber: phone.value });
  return userIdentifiers.length > 0 ? { userData: { userIdentifiers } } : {};
}

export function toEvent(row: Record<string, unknown>): Prepared<DmEvent> {
  const transactionId = text(row, 'transaction_id') ?? text(row, 'event_id');
  if (!transactionId)
    return refuse('transaction_id and event_id are missing: Data Manager deduplicates on transactionId');
  const occurredAt = timestamp(row, 'occurred_at');
  if (!occurredAt) return refuse('occurred_at is missing or not a timestamp');
  // Google Ads attributes a click conversion to one click: the first id present wins.
  const gclid = text(row, 'gclid');
  const gbraid = gclid ? undefined : text(row, 'gbraid');
  const wbraid = gclid || gbraid ? undefined : text(row, 'wbraid');
  const consent = consentOf(row);
  const { userData, error } = userDataOf(row);
  if (error) return refuse(error);
  // User-provided data goes only with ad_user_data consent; denied consent still travels, as Google asks.
  const sendUserData = consent?.adUserData === 'CONSENT_GRANTED' ? userData : undefined;
  const adIdentifiers = compact({ gclid, gbraid, wbraid });
  if (Object.keys(adIdentifiers).length === 0 && !sendUserData) {
    return refuse('no click id (gclid/gbraid/wbraid) and no consented user data: Google Ads cannot attribute it');
  }
  const value = numeric(row, 'value');
  const currency = text(row, 'currency')?.toUpperCase();
  if (value !== undefined && !currency) return refuse('value without currency');
  return accept(
    compact({
      transactionId,
      eventTimestamp: occurredAt.toISOString(),
      eventSource: 'WEB' as const,
      adIdentifiers,
      userData: sendUserData,
      consent,
      currency,
      conversionValue: value,
    }),
  );
}

export function toMember(record: SyncRecord, config: GoogleAdsConfig): Prepared<{ group: string; value: DmMember }> {
  if (record.action !== 'add' && record.action !== 'remove')
    return refuse(`action ${record.action} is not add or remove`);
  const martAudience = text(record.row, 'audience_id');
  const listId = (martAudience !== undefined ? config.audiences[martAudience] : undefined) ?? config.userListId;
  if (!listId) return refuse(`no user list configured for audience_id ${martAudience ?? '(none)'}`);
  const { userData, error } = userDataOf(record.row);
  if (error) return refuse(error);
  if (!userData) return refuse('neither email_sha256 nor phone_sha256 is set: nothing to match on');
  const consent = consentOf(record.row);
  return accept({ group: `${record.action} ${listId}`, value: compact({ userData, consent }) as DmMember });
}

export function destination(config: GoogleAdsConfig, productDestinationId: string): DmDestination {
  return compact({
    operatingAccount: { accountId: config.operatingAccountId, accountType: config.accountType },
    loginAccount: config.loginAccountId
      ? { accountId: config.loginAccountId, accountType: config.accountType }
      : undefined,
    productDestinationId,
  });
}

export function eventsBody(events: DmEvent[], config: GoogleAdsConfig, validateOnly: boolean) {
  return {
    destinations: [destination(config, config.conversionActionId ?? '')],
    encoding: 'HEX',
    events,
    ...(validateOnly ? { validateOnly: true } : {}),
  };
}

export function membersBody(
  members: DmMember[],
  listId: string,
  action: 'add' | 'remove',
  config: GoogleAdsConfig,
  validateOnly: boolean,
) {
  return {
    destinations: [destination(config, listId)],
    audienceMembers: members,
    encoding: 'HEX',
    ...(action === 'add' && config.customerMatchTermsAccepted
      ? { termsOfService: { customerMatchTermsOfServiceStatus: 'ACCEPTED' } }
      : {}),
    ...(validateOnly ? { validateOnly: true } : {}),
  };
}
