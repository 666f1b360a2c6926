/** TikTok Events API mapping (pure): a `marts.conversions` row → one `data[]` entry of `/event/track/`. */
import { accept, compact, identifierHash, items, numeric, refuse, text, timestamp, type Prepared } from '../shared';
import { hashExternalId } from '../pii';
import { DEFAULT_EVENT_NAMES, type TiktokConfig } from './config';

export interface TiktokEvent {
  event: string;
  event_time: number;
  event_id: string;
  user: Record<string, string>;
  page?: { url?: string };
  properties?: Record<string, unknown>;
  limited_data_use?: boolean;
}

export interface TiktokBody {
  event_source: string;
  event_source_id: string;
  test_event_code?: string;
  data: TiktokEvent[];
}

export function toTiktokEvent(row: Record<string, unknown>, config: TiktokConfig): Prepared<TiktokEvent> {
  const eventId = text(row, 'event_id') ?? text(row, 'conversion_key');
  if (!eventId) return refuse('event_id is missing (TikTok deduplicates on it)');
  const name = text(row, 'event_name');
  const type = text(row, 'conversion_type');
  const event =
    (name !== undefined ? config.eventNames[name] : undefined) ??
    (type !== undefined ? (config.eventNames[type] ?? DEFAULT_EVENT_NAMES[type]) : undefined) ??
    name;
  if (!event) return refuse('event_name is missing');
  const occurredAt = timestamp(row, 'occurred_at');
  if (!occurredAt) return refuse('occurred_at is missing or not a timestamp');

  const email = identifierHash(row, 'email', 'tiktok');
  const phone = identifierHash(row, 'phone', 'tiktok');
  if (email.error || phone.error) return refuse((email.error ?? phone.error) as string);
  const externalSource = text(row, 'user_id') ?? text(row, 'person_id');
  const user = compact({
    email: email.value,
    phone: phone.value,
    external_id: externalSource ? hashExternalId(externalSource, 'tiktok') : undefined,
    ttclid: text(row, 'ttclid'),
    ip: text(row, 'ip'),
    user_agent: text(row, 'user_agent'),
  }) as Record<string, string>;
  if (Object.keys(user).length === 0) return refuse('no user parameter (email, phone, ids, ttclid, ip) to match on');

  const lineItems = items(row);
  const properties = compact({
    contents: lineItems.map((item) =>
      compact({
        content_id: item.item_id,
        content_type: 'product',
        content_name: item.item_name,
        quantity: item.quantity,
        price: item.price,
      }),
    ),
    value: numeric(row, 'value'),
    currency: text(row, 'currency')?.toUpperCase(),
    order_id: text(row, 'transaction_id'),
  });
  return accept(
    compact({
      event,
      event_time: Math.floor(occurredAt.getTime() / 1000),
      event_id: eventId,
      user,
      page: compact({ url: text(row, 'page_url') }),
      properties,
      limited_data_use: config.limitedDataUse,
    }),
  );
}

export function requestBody(events: TiktokEvent[], config: TiktokConfig): TiktokBody {
  return compact({
    event_source: config.eventSource,
    event_source_id: config.pixelCode,
    test_event_code: config.testEventCode,
    data: events,
  });
}
