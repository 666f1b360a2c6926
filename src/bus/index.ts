/**
 * Bus entry point: `createBus(config, logger)` opens the adapter `config.bus.kind` names. The embedded bus
 * lives under `localPaths(config.dataDir).bus`; the Pub/Sub bus spools under `<dataDir>/spool`.
 */
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import { localPaths } from '../warehouse/types';
import { EmbeddedBus } from './embedded';
import { PubSubBus } from './pubsub';
import type { EventBus } from './types';

export { EmbeddedBus } from './embedded';
export { PubSubBus } from './pubsub';
export type * from './types';

export async function createBus(config: Config, logger: Logger): Promise<EventBus> {
  if (config.bus.kind === 'pubsub') return PubSubBus.fromConfig(config, logger);
  return EmbeddedBus.open({ dir: localPaths(config.dataDir).bus, logger, topics: config.bus.topics });
}
