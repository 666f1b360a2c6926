/**
 * Meta Conversions API mapping (pure): a `marts.conversions` row → one server event, checked locally against every
 * rule that would make Meta refuse the whole request (so one bad row never sinks its batch).
 */
import { accept, compact, identifierHash, items, numeric, refuse, text, timestamp, type Prepared } from '../shared';
import { hashExternalId, hashFor } from '../pii';
import { DEFAULT_EVENT_NAMES, MAX_EVENT_AGE_SECONDS, type MetaCapiConfig } from './config';

export interface MetaUserData {
  em?: string[];
  ph?: string[];
  external_id?: string[];
  country?: string[];
  client_ip_address?: string;
  client_user_agent?: string;
  fbc?: string;
  fbp?: string;
}

export interface MetaServerEvent {
  event_name: string;
  event_time: number;
  event_id: string;
  action_source: string;
  event_source_url?: string;
  user_data: MetaUserData;
  custom_data?: Record<string, unknown>;
  data_processing_options?: string[];
  data_processing_options_country?: number;
  data_processing_options_state?: number;
}

export interface MetaRequestBody {
  data: MetaServerEvent[];
  test_event_code?: string;
}

export function toServerEvent(
  row: Record<string, unknown>,
  config: MetaCapiConfig,
  now: Date,
): Prepared<MetaServerEvent> {
  const eventId = text(row, 'event_id') ?? text(row, 'conversion_key');
  if (!eventId) return refuse('event_id is missing (Meta deduplicates on it)');
  const eventName = metaEventName(row, config);
  if (!eventName) return refuse('event_name is missing');

  const occurredAt = timestamp(row, 'occurred_at');
  if (!occurredAt) return refuse('occurred_at is missing or not a timestamp');
  const eventTime = Math.floor(occurredAt.getTime() / 1000);
  const ageSeconds = Math.floor(now.getTime() / 1000) - eventTime;
  // One event older than 7 days fails the whole request (subcode 2804003), so it never leaves here.
  if (ageSeconds > MAX_EVENT_AGE_SECONDS) {
    return refuse(`event_time is ${Math.floor(ageSeconds / 86400)} days old; Meta accepts at most 7 days`);
  }

  const email = identifierHash(row, 'email', 'meta');
  const phone = identifierHash(row, 'phone', 'meta');
  if (email.error || phone.error) return refuse((email.error ?? phone.error) as string);
  const externalSource = text(row, 'user_id') ?? text(row, 'person_id');

  const userData: MetaUserData = compact({
    em: list(email.value),
    ph: list(phone.value),
    external_id: list(externalSource ? hashExternalId(externalSource, 'meta') : undefined),
    // Meta wants the ISO country lowercased and hashed like the other customer information parameters.
    country: list(hashFor('country', row.country, 'meta')),
    client_ip_address: text(row, 'ip'),
    client_user_agent: text(row, 'user_agent'),
    // fbc carries the case-sensitive fbclid: passed as is, never lowercased.
    fbc: text(row, 'fbc'),
    fbp: text(row, 'fbp'),
  });
  const eventSourceUrl = text(row, 'page_url');
  if (config.actionSource === 'website') {
    // Required for website events (Server Event Parameters → action_source).
    if (!eventSourceUrl) return refuse('page_url is missing: Meta requires event_source_url for website events');
    if (!userData.client_user_agent)
      return refuse('user_agent is missing: Meta requires client_user_agent for website events');
  }
  if (Object.keys(userData).length === 0) return refuse('no customer information parameter (email, phone, ids, ip)');

  const lineItems = items(row);
  const customData = compact({
    value: numeric(row, 'value'),
    currency: text(row, 'currency')?.toUpperCase(),
    order_id: text(row, 'transaction_id'),
    content_type: lineItems.length > 0 ? 'product' : undefined,
    contents: lineItems
      .filter((item) => item.item_id !== undefined)
      .map((item) => compact({ id: item.item_id, quantity: item.quantity ?? 1, item_price: item.price })),
    num_items: lineItems.length > 0 ? lineItems.reduce((sum, item) => sum + (item.quantity ?? 1), 0) : undefined,
  });

  const event: MetaServerEvent = compact({
    event_name: eventName,
    event_time: eventTime,
    event_id: eventId,
    action_source: config.actionSource,
    event_source_url: eventSourceUrl,
    user_data: userData,
    custom_data: customData,
    data_processing_options: config.dataProcessingOptions,
    data_processing_options_country: config.dataProcessingOptionsCountry,
    data_processing_options_state: config.dataProcessingOptionsState,
  });
  // `[]` is meaningful (explicit LDU opt-out), so compact must not have dropped it.
  if (config.dataProcessingOptions) event.data_processing_options = config.dataProcessingOptions;
  return accept(event);
}

const list = (value: string | undefined): string[] | undefined => (value === undefined ? undefined : [value]);

export function metaEventName(row: Record<string, unknown>, config: MetaCapiConfig): string | undefined {
  const name = text(row, 'event_name');
  const type = text(row, 'conversion_type');
  return (
    (name !== undefined ? config.eventNames[name] : undefined) ??
    (type !== undefined ? (config.eventNames[type] ?? DEFAULT_EVENT_NAMES[type]) : undefined) ??
    name
  );
}

export function requestBody(events: MetaServerEvent[], config: MetaCapiConfig): MetaRequestBody {
  const body: MetaRequestBody = { data: events };
  // Validate mode refuses to run without a test code (index.ts), so validation never reaches live data.
  if (config.testEventCode) body.test_event_code = config.testEventCode;
  return body;
}
