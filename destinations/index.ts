/** The destination registry: every destination by name, for the sync config loader and the CLI. */
import type { Destination } from '../src/core/destination';
import { ga4Mp } from './ga4-mp';
import { googleAds } from './google-ads';
import { hubspot } from './hubspot';
import { hubspotEvents } from './hubspot-events';
import { metaAudiences } from './meta-audiences';
import { metaCapi } from './meta-capi';
import { salesforce } from './salesforce';
import { tiktok } from './tiktok';
import { webhook } from './webhook';

/**
 * Each destination has its own config type; the registry holds them behind the common interface. Callers parse
 * the config with the destination's own `configSchema` before `send`, which keeps the pairing sound.
 */
export const destinations = [
  metaCapi,
  metaAudiences,
  ga4Mp,
  googleAds,
  tiktok,
  hubspot,
  hubspotEvents,
  salesforce,
  webhook,
] as unknown as Destination<unknown>[];

const byName = new Map(destinations.map((d) => [d.name, d]));

export function getDestination(name: string): Destination<unknown> | undefined {
  return byName.get(name);
}

export function destinationNames(): string[] {
  return [...byName.keys()];
}
