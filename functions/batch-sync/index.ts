/**
 * Cloud Run Job entry point (run by Cloud Scheduler): runs every sync whose cadence is due, one after another,
 * logs one line per run, flushes the logs and exits non-zero when a run failed, could not run, or was refused by
 * the deletion guard, so the job execution shows as failed and alerting picks it up. SIGTERM (Cloud Run stops a
 * job at its task timeout) stops cleanly: the ledger already holds every attempt.
 */
import { parseConfig } from '../../src/core/config';
import { createLogger, type Logger } from '../../src/core/logger';
import { outcomeFailed, SyncEngine } from '../../src/sync/engine';

/** `args`: an optional sync name (run it regardless of cadence, e.g. `gcloud run jobs execute --args=NAME`) and `--force` (only with a name). */
export async function runBatchSync(
  env: Record<string, string | undefined>,
  args: string[] = [],
  logger?: Logger,
): Promise<number> {
  const config = parseConfig(env);
  const log =
    logger ?? createLogger({ level: config.log.level, format: 'json', projectId: config.warehouse.projectId });
  const engine = new SyncEngine({ config, logger: log });
  const only = args.find((a) => !a.startsWith('--'));
  const force = args.includes('--force');
  const outcomes = only ? [await engine.run(only, { force })] : await engine.runDue();
  for (const o of outcomes) {
    const run = o.result?.run;
    const fields = {
      sync: o.sync,
      status: run?.status ?? 'error',
      planned: run?.planned,
      delivered: run?.delivered,
      rejected: run?.rejected,
      failed: run?.failed,
      unknown: run?.unknown,
      dry_run: o.dryRun,
    };
    if (outcomeFailed(o)) log.error({ ...fields, error: o.error?.message ?? run?.error }, 'sync run failed');
    else log.info(fields, 'sync run finished');
  }
  if (!outcomes.length) log.info('no sync is due');
  return outcomes.some(outcomeFailed) ? 1 : 0;
}

function flush(logger: Logger): Promise<void> {
  return new Promise((resolve) => logger.flush(() => resolve()));
}

if (require.main === module) {
  const logger = createLogger({ format: 'json' });
  process.once('SIGTERM', () => {
    logger.warn('SIGTERM: stopping; attempts so far are in the ledger, the next run resumes');
    void flush(logger).then(() => process.exit(143));
  });
  runBatchSync(process.env, process.argv.slice(2), logger)
    .then(async (code) => {
      await flush(logger);
      process.exit(code);
    })
    .catch(async (error: unknown) => {
      logger.fatal({ err: error }, (error as Error).message);
      await flush(logger);
      process.exit(2);
    });
}
