/**
 * Pub/Sub push endpoint for `cadence: stream` syncs (functions-framework HTTP function `streamSync`, deployed on
 * Cloud Run / Cloud Functions behind a push subscription on the events topic, usually with a filter such as
 * `attributes.event = "purchase"`). Answers 2xx when every sync sent, rejected (recorded in the ledger) or
 * skipped the event, and 503 when one must retry: Pub/Sub then redelivers with backoff and dead-letters after
 * the subscription's max delivery attempts (Terraform). Redeliveries are idempotent through the ledger.
 */
import * as ff from '@google-cloud/functions-framework';
import { parseConfig } from '../../src/core/config';
import { createLogger } from '../../src/core/logger';
import { createStreamSync, type StreamSync } from '../../src/sync/stream';
import { openWarehouse } from '../../src/warehouse';

let handler: StreamSync | null = null;

function getHandler(): StreamSync {
  if (handler) return handler;
  const config = parseConfig(process.env);
  const logger = createLogger({ level: config.log.level, format: 'json', projectId: config.warehouse.projectId });
  // BigQuery: one client for the instance's life. DuckDB (local runs of this function): hold the file per event.
  const shared = config.warehouse.kind === 'bigquery' ? openWarehouse(config, { readOnly: false }) : null;
  handler = createStreamSync(config, {
    logger,
    openWarehouse: () => shared ?? openWarehouse(config, { readOnly: false, lockTimeoutMs: 30_000 }),
    closeWarehouse: shared === null,
  });
  return handler;
}

export const streamSync: ff.HttpFunction = async (req, res) => {
  const answer = await getHandler().handlePush(req.body);
  res
    .status(answer.status)
    .set(answer.headers ?? {})
    .json(answer.body);
};

ff.http('streamSync', streamSync);
