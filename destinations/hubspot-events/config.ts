/**
 * HubSpot custom behavioral events (`POST /events/v3/send/batch`): config schema and limits in one place
 * (https://developers.hubspot.com/docs/api-reference/events-send-event-completions-v3/guide).
 */
import { z } from 'zod';
import type { DestinationLimits } from '../../src/core/destination';
import { REQUESTS_PER_10_SECONDS } from '../hubspot/config';

/** Events per batch request: unverified in HubSpot's reference; 100 matches its other batch endpoints. */
export const MAX_EVENTS_PER_REQUEST = 100;

/** Fully qualified event name as HubSpot shows it: pe{HubID}_{name}. */
const eventName = z.string().regex(/^pe\d+_[a-z0-9_]+$/, 'expected the fully qualified name pe{HubID}_{name}');

export const configSchema = z
  .object({
    /** Private app access token (scope analytics.behavioral_events.send); env HUBSPOT_ACCESS_TOKEN. */
    accessToken: z.string().min(1),
    endpoint: z.url().default('https://api.hubapi.com'),
    /** Event for every row; or `eventNames` to map the mart `event_name`. */
    eventName: eventName.optional(),
    eventNames: z.record(z.string(), eventName).default({}),
    /** Columns sent as event properties (names as the event defines them, after the sync's field mapping). */
    properties: z.array(z.string().min(1)).default([]),
    batchSize: z.number().int().min(1).max(MAX_EVENTS_PER_REQUEST).default(MAX_EVENTS_PER_REQUEST),
    timeoutMs: z.number().int().positive().default(15_000),
  })
  .refine((c) => c.eventName !== undefined || Object.keys(c.eventNames).length > 0, {
    message: 'set eventName, or eventNames (mart event_name → pe{HubID}_{name})',
    path: ['eventName'],
  });

export type HubspotEventsConfig = z.infer<typeof configSchema>;

export const SECRETS = ['HUBSPOT_ACCESS_TOKEN'];

export function limits(config: HubspotEventsConfig): DestinationLimits {
  // The 190 per 10 s limit is account-wide: shared with the contacts destination.
  return { maxBatchSize: config.batchSize, requestsPerSecond: REQUESTS_PER_10_SECONDS / 10 };
}
