/**
 * A collector pipeline with the default configuration and no bus, for what only calls `prepare` (the pipeline's
 * unit tests and the in-process benchmark).
 */
import type { EventBus } from '../../../src/bus/types';
import { type Config, parseConfig } from '../../../src/core/config';
import { silentLogger } from '../../../src/core/logger';
import { CollectorMetrics } from '../metrics';
import { CollectorPipeline } from '../pipeline';

export function offlinePipeline(): { config: Config; pipeline: CollectorPipeline } {
  const config = parseConfig({ TAGPIPE_LOG_LEVEL: 'silent' }, { cwd: '/tmp' });
  const pipeline = new CollectorPipeline({
    config,
    bus: {} as EventBus,
    logger: silentLogger,
    metrics: new CollectorMetrics(),
  });
  return { config, pipeline };
}
