/**
 * Bus entry point: `createBus(config, logger)` opens the adapter `config.bus.kind` names. The embedded bus
 * lives under `localPaths(config.dataDir).bus`.
 */
import type { Config } from '../core/config';
import { ConfigError } from '../core/errors';
import type { Logger } from '../core/logger';
import { localPaths } from '../warehouse/types';
import { EmbeddedBus } from './embedded';
import type { EventBus } from './types';

export { EmbeddedBus } from './embedded';
export type * from './types';

export async function createBus(config: Config, logger: Logger): Promise<EventBus> {
  if (config.bus.kind === 'embedded') {
    return EmbeddedBus.open({ dir: localPaths(config.dataDir).bus, logger, topics: config.bus.topics });
  }
  throw new ConfigError(`bus.kind ${config.bus.kind}: adapter not available in this build`, 'bus.kind');
}
