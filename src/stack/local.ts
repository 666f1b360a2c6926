/**
 * The local stack: one process with the embedded bus, the lander, the collector (with /sdk.js, /demo, /debug),
 * the models on a schedule and the syncs on their cadence. Same code as production, local adapters.
 */
import fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createBus } from '../bus';
import type { EventBus } from '../bus/types';
import type { Config } from '../core/config';
import type { Logger } from '../core/logger';
import { startLander } from '../warehouse/lander';
import { localPaths } from '../warehouse/types';
import { DebugHub } from '../../functions/collector/debug-hub';
import { demoRoutes } from '../../functions/collector/demo';
import { createCollector, type Collector } from '../../functions/collector/server';
import { SyncEngine, openSyncWarehouse } from '../sync/engine';
import { parseSyncs } from '../sync/config';
import { createStreamSync } from '../sync/stream';
import type { CanonicalEvent } from '../core/event';
import type { Subscription } from '../bus/types';
import { WarehouseScheduler } from './models';

export interface LocalStackOptions {
  config: Config;
  logger: Logger;
  /** Run dbt models on the schedule in config.models (default true). */
  models?: boolean;
}

export interface LocalStack {
  url: string;
  port: number;
  dataDir: string;
  bus: EventBus;
  collector: Collector;
  hub: DebugHub;
  /** Resolves when every event published so far has landed in the raw tables. */
  drain(timeoutMs?: number): Promise<void>;
  landedCount(): number;
  /** Runs the models (and due syncs) now; resolves when done. */
  runModels(): Promise<void>;
  close(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const { config, logger } = options;
  const paths = localPaths(config.dataDir);
  fs.mkdirSync(paths.root, { recursive: true });
  const bus = await createBus(config, logger.child({ component: 'bus' }));
  const lander = await startLander({ bus, dataDir: paths.root, logger: logger.child({ component: 'lander' }) });
  const hub = new DebugHub();
  const collector = await createCollector({
    config,
    bus,
    logger: logger.child({ component: 'collector' }),
    hub,
    extraRoutes: async (app) => {
      demoRoutes(app, { writeKey: config.auth.writeKeys[0] });
      app.get('/', async (_req, reply) =>
        reply
          .type('text/html')
          .send(
            `<!doctype html><meta charset="utf-8"><title>tagpipe</title><h1>tagpipe collector</h1><ul>` +
              `<li><a href="/demo">/demo</a> demo shop</li><li><a href="/debug">/debug</a> live debug view</li>` +
              `<li><a href="/sdk.js">/sdk.js</a> browser SDK</li><li><a href="/metrics">/metrics</a></li>` +
              `<li><a href="/healthz">/healthz</a></li></ul>`,
          ),
      );
    },
  });
  await collector.app.listen({ host: config.server.host, port: config.server.port });
  const port = (collector.app.server.address() as AddressInfo).port;
  const host = config.server.host === '0.0.0.0' || config.server.host === '::' ? 'localhost' : config.server.host;
  const url = `http://${host}:${port}`;

  // Batch syncs run after each models build, when they are due (their cron cadence).
  const syncLogger = logger.child({ component: 'sync' });
  const engine = config.syncs.length ? new SyncEngine({ config, logger: syncLogger }) : null;
  const scheduler = new WarehouseScheduler({
    dataDir: paths.root,
    intervalSeconds: config.models.intervalSeconds,
    afterEvents: config.models.afterEvents,
    logger: logger.child({ component: 'models' }),
    models: options.models !== false,
    afterModels: engine
      ? async () => {
          for (const outcome of await engine.runDue()) {
            const run = outcome.result?.run;
            syncLogger.info(
              {
                sync: outcome.sync,
                status: run?.status ?? 'error',
                dryRun: outcome.dryRun,
                error: outcome.error?.message,
              },
              'sync run finished',
            );
          }
        }
      : undefined,
  });
  lander.onLanded((rows: number) => scheduler.noteLanded(rows));
  scheduler.start();

  // Streaming syncs read the embedded bus like the Pub/Sub push subscription does in production; what each
  // destination was sent and answered shows up in the debug view.
  let streamSub: Subscription | null = null;
  if (parseSyncs(config).some((s) => s.enabled && s.cadence === 'stream')) {
    const stream = createStreamSync(config, { logger: syncLogger, openWarehouse: () => openSyncWarehouse(config) });
    streamSub = bus.subscribe(
      'events',
      'stream-sync',
      async (messages) => {
        let retry: string | null = null;
        for (const m of messages) {
          const event = JSON.parse(m.data.toString('utf8')) as CanonicalEvent;
          for (const r of await stream.handle(event, m.messageId)) {
            const sync = stream.syncs.find((s) => s.name === r.sync);
            const x = r.exchange;
            hub.recordDelivery(event.event_id, {
              destination: sync?.destination ?? 'unknown',
              sync: r.sync,
              status: r.status,
              httpStatus: x?.status ?? null,
              // What the destination was sent and what it answered (the hub redacts PII before showing it).
              response: x
                ? `sent ${x.method} ${x.url} ${x.body ?? ''}\nanswered ${x.status ?? '(no answer)'} ${x.response ?? ''}${r.reason ? `\n${r.reason}` : ''}`
                : (r.reason ?? null),
            });
            if (r.status === 'retry') retry = r.reason ?? 'retryable failure';
          }
        }
        // A retryable failure redelivers the batch (the ledger keeps sent events from going out twice).
        if (retry) throw new Error(`stream sync will retry: ${retry}`);
      },
      { maxBatch: 50, maxWaitMs: 200 },
    );
  }

  const publishedCount = () => collector.metrics.publishedTotal;

  let closed = false;
  return {
    url,
    port,
    dataDir: paths.root,
    bus,
    collector,
    hub,
    landedCount: () => lander.stats().rows,
    runModels: () => scheduler.trigger('manual'),
    async drain(timeoutMs = 30_000) {
      const target = publishedCount();
      const deadline = Date.now() + timeoutMs;
      while (lander.stats().rows < target) {
        if (Date.now() > deadline) {
          throw new Error(`lander did not catch up: ${lander.stats().rows}/${target} rows after ${timeoutMs} ms`);
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await collector.app.close();
      await streamSub?.close();
      await scheduler.stop();
      await bus.flush();
      await lander.close();
      await bus.close();
    },
  };
}
