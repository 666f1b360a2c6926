/** Records and config shared by the Google Ads tests against the Data Manager fake. */
import { configSchema } from '../../destinations/google-ads';
import type { GoogleAdsConfig } from '../../destinations/google-ads/config';
import type { SyncRecord } from '../../src/core/destination';
import { NOW } from '../sync/helpers';

/** A conversion with a gclid, an hour before the sync tests' NOW. */
export const conversion = (i: number, extra: Record<string, unknown> = {}): SyncRecord => ({
  key: `T-${i}`,
  action: 'send',
  row: {
    transaction_id: `T-${i}`,
    occurred_at: new Date(NOW.getTime() - 3600_000).toISOString(),
    gclid: `gclid-${i}`,
    value: i,
    currency: 'EUR',
    ...extra,
  },
});

/** A fixed-token config for the fake at `endpoint`, with the audience `vip`. */
export const dataManagerConfig = (endpoint: string, extra: Record<string, unknown> = {}): GoogleAdsConfig =>
  configSchema.parse({
    accessToken: 'test-token',
    endpoint,
    operatingAccountId: '123',
    conversionActionId: '555',
    audiences: { vip: '777' },
    ...extra,
  });
