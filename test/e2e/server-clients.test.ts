/**
 * End to end with the vendors' own server-side clients: @segment/analytics-node and RudderStack's
 * @rudderstack/rudder-sdk-node send thousands of events through a proxy that forces retries (answers 5xx after the
 * collector accepted, so the client resends the same batch) to a running local stack. Exactly the distinct event
 * ids sent must land in raw.events, with consent as sent.
 */
import { Analytics } from '@segment/analytics-node';
import RudderAnalytics from '@rudderstack/rudder-sdk-node';
import { type ServerClient, type TrackCall, expectEveryCallLands } from '../helpers/server-client';

const EVENTS = 3000;

/** Segment's library: consent in context, messageId as given, batches of 40 with Basic auth. */
function segmentClient(host: string): ServerClient {
  const analytics = new Analytics({ writeKey: 'dev', host, flushAt: 40, maxRetries: 10, httpRequestTimeout: 10_000 });
  return {
    track: ({ consent, ...call }: TrackCall) =>
      analytics.track({ ...call, context: { consent } as Record<string, unknown> }),
    flush: () => analytics.closeAndFlush({ timeout: 240_000 }),
  };
}

/**
 * RudderStack's library: gzipped /v1/batch bodies with Basic auth, one request at a time, retried on 5xx. Each
 * call's callback says whether its batch was finally delivered.
 */
function rudderStackClient(host: string): ServerClient {
  const analytics = new RudderAnalytics('dev', {
    dataPlaneUrl: host,
    flushAt: 40,
    flushInterval: 50,
    retryCount: 10,
    logLevel: 'none',
  });
  const delivered: Array<Promise<void>> = [];
  return {
    track: ({ consent, ...call }: TrackCall) => {
      delivered.push(
        new Promise((resolve, reject) => {
          // The library keeps a messageId it is given (typed or not); consent rides in context as Segment's does.
          const params = { ...call, context: { consent } };
          analytics.track(params as Parameters<typeof analytics.track>[0], (err?: Error) =>
            err ? reject(err) : resolve(),
          );
        }),
      );
    },
    flush: async () => {
      await Promise.all(delivered);
    },
  };
}

describe('server-side clients → local stack → raw.events', () => {
  it('Segment analytics-node: lands exactly the distinct event ids sent, despite forced retries and duplicates', async () => {
    await expectEveryCallLands(segmentClient, EVENTS);
  }, 300_000);

  it('RudderStack rudder-sdk-node: lands exactly the distinct event ids sent, despite forced retries and duplicates', async () => {
    await expectEveryCallLands(rudderStackClient, EVENTS);
  }, 300_000);
});
