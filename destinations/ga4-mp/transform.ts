/**
 * GA4 Measurement Protocol mapping and local validation (pure). Measurement Protocol answers 2xx to malformed
 * payloads and drops them silently, so every documented limit is checked here before anything is sent.
 * Rows sharing the request-level fields (client_id, user_id, consent, user_data) share a request; each event
 * carries its own `timestamp_micros`.
 */
import {
  accept,
  boolean,
  compact,
  identifierHash,
  items,
  numeric,
  refuse,
  text,
  timestamp,
  type Prepared,
} from '../shared';
import {
  DEFAULT_EVENT_NAMES,
  LIMITS,
  NAME_PATTERN,
  RESERVED_EVENT_NAMES,
  RESERVED_PARAM_NAMES,
  RESERVED_PREFIXES,
  type Ga4Config,
} from './config';

export interface Ga4Event {
  name: string;
  params: Record<string, unknown>;
  timestamp_micros: number;
}

export interface Ga4Common {
  client_id: string;
  user_id?: string;
  ip_override?: string;
  consent?: { ad_user_data?: 'GRANTED' | 'DENIED'; ad_personalization?: 'GRANTED' | 'DENIED' };
  user_data?: { sha256_email_address?: string[]; sha256_phone_number?: string[] };
}

export interface Ga4Body extends Ga4Common {
  validation_behavior?: string;
  events: Ga4Event[];
}

/** A row ready to send: the request-level fields (as a group key) and its event. */
export interface Ga4Item {
  group: string;
  value: { common: Ga4Common; event: Ga4Event };
}

const grant = (value: boolean | undefined): 'GRANTED' | 'DENIED' | undefined =>
  value === undefined ? undefined : value ? 'GRANTED' : 'DENIED';

export function toGa4(row: Record<string, unknown>, config: Ga4Config, now: Date): Prepared<Ga4Item> {
  const clientId = text(row, 'anonymous_id');
  if (!clientId) return refuse('anonymous_id is missing: GA4 web streams need it as client_id');
  const occurredAt = timestamp(row, 'occurred_at');
  if (!occurredAt) return refuse('occurred_at is missing or not a timestamp');
  const ageSeconds = (now.getTime() - occurredAt.getTime()) / 1000;
  if (ageSeconds > LIMITS.maxEventAgeSeconds) {
    return refuse(`event is ${Math.floor(ageSeconds / 3600)} h old; Measurement Protocol backdates at most 72 h`);
  }
  const name = ga4EventName(row, config);
  if (!name) return refuse('event_name is missing');

  const lineItems = items(row).map((item) => compact({ ...item }));
  const params = compact({
    transaction_id: text(row, 'transaction_id') ?? text(row, 'event_id'),
    value: numeric(row, 'value'),
    currency: text(row, 'currency')?.toUpperCase(),
    items: lineItems,
    session_id: text(row, 'session_id'),
    engagement_time_msec: config.engagementTimeMsec,
  }) as Record<string, unknown>;
  // GA4 needs currency whenever value is set (purchase reports drop revenue otherwise).
  if (params.value !== undefined && params.currency === undefined)
    return refuse('value without currency: GA4 needs both');
  const event: Ga4Event = { name, params, timestamp_micros: occurredAt.getTime() * 1000 };
  const problems = eventProblems(event);
  if (problems.length > 0) return refuse(problems.join('; '));

  const adUserData = boolean(row, 'consent_ad_user_data');
  const email = identifierHash(row, 'email', 'ga4');
  const phone = identifierHash(row, 'phone', 'ga4');
  if (email.error || phone.error) return refuse((email.error ?? phone.error) as string);
  const common: Ga4Common = compact({
    client_id: clientId,
    user_id: text(row, 'user_id'),
    // Geography from the (policy-truncated) IP the collector kept; MP would otherwise place the event at our server.
    ip_override: text(row, 'ip'),
    consent: compact({
      ad_user_data: grant(adUserData),
      ad_personalization: grant(boolean(row, 'consent_ad_personalization')),
    }),
    // User-provided data goes only with ad_user_data consent.
    user_data:
      adUserData === true
        ? compact({
            sha256_email_address: email.value ? [email.value] : undefined,
            sha256_phone_number: phone.value ? [phone.value] : undefined,
          })
        : undefined,
  });
  return accept({ group: JSON.stringify(common), value: { common, event } });
}

export function ga4EventName(row: Record<string, unknown>, config: Ga4Config): string | undefined {
  const name = text(row, 'event_name');
  const type = text(row, 'conversion_type');
  return (
    (name !== undefined ? config.eventNames[name] : undefined) ??
    (type !== undefined ? (config.eventNames[type] ?? DEFAULT_EVENT_NAMES[type]) : undefined) ??
    name
  );
}

function nameProblem(what: string, name: string, maxLength: number): string | undefined {
  if (name.length > maxLength) return `${what} "${name}" is longer than ${maxLength} characters`;
  if (!NAME_PATTERN.test(name)) return `${what} "${name}" must start with a letter and hold only letters, digits and _`;
  if (RESERVED_PREFIXES.some((prefix) => name.startsWith(prefix))) return `${what} "${name}" uses a reserved prefix`;
  return undefined;
}

/** Every documented event and parameter limit; an empty list means GA4 will take the event. */
export function eventProblems(event: Ga4Event): string[] {
  const problems: string[] = [];
  const nameIssue = nameProblem('event name', event.name, LIMITS.eventNameLength);
  if (nameIssue) problems.push(nameIssue);
  if (RESERVED_EVENT_NAMES.has(event.name)) problems.push(`event name "${event.name}" is reserved`);
  const names = Object.keys(event.params);
  if (names.length > LIMITS.paramsPerEvent)
    problems.push(`${names.length} params; GA4 allows ${LIMITS.paramsPerEvent}`);
  for (const [param, value] of Object.entries(event.params)) {
    const issue = nameProblem('param name', param, LIMITS.paramNameLength);
    if (issue) problems.push(issue);
    if (RESERVED_PARAM_NAMES.has(param)) problems.push(`param name "${param}" is reserved`);
    if (param === 'items') {
      for (const item of value as Record<string, unknown>[]) {
        const custom = Object.keys(item).filter((k) => !STANDARD_ITEM_PARAMS.has(k));
        if (custom.length > LIMITS.itemCustomParams)
          problems.push(`an item has ${custom.length} custom params; GA4 allows ${LIMITS.itemCustomParams}`);
        for (const [key, v] of Object.entries(item)) {
          if (typeof v === 'string' && v.length > LIMITS.paramValueLength)
            problems.push(`item ${key} is longer than ${LIMITS.paramValueLength} characters`);
        }
      }
    } else if (typeof value === 'string' && value.length > LIMITS.paramValueLength) {
      problems.push(`param ${param} is longer than ${LIMITS.paramValueLength} characters`);
    }
  }
  return problems;
}

const STANDARD_ITEM_PARAMS = new Set([
  'item_id', 'item_name', 'affiliation', 'coupon', 'discount', 'index', 'item_brand', 'item_category',
  'item_category2', 'item_category3', 'item_category4', 'item_category5', 'item_list_id', 'item_list_name',
  'item_variant', 'location_id', 'price', 'quantity',
]); // prettier-ignore

export function requestBody(common: Ga4Common, events: Ga4Event[], config: Ga4Config): Ga4Body {
  return compact({ ...common, validation_behavior: config.validationBehavior, events });
}
