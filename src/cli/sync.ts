/**
 * `tagpipe sync plan|run|status|outbox` and `tagpipe stream-sync`: the operator's view of the sync engine.
 * `sync status` reads `_tagpipe.sync_runs` and, per run, what its request status check recorded in
 * `_tagpipe.request_status` (`--requests`: each request's latest status).
 * Exit codes: 0 done; 1 a run failed or could not run; 2 configuration (from main); 3 refused by the deletion
 * guard (re-run with --force after checking the source).
 */
import http from 'node:http';
import cliProgress from 'cli-progress';
import pino from 'pino';
import type { Command } from 'commander';
import type { Config } from '../core/config';
import { createLogger, type Logger } from '../core/logger';
import { outcomeFailed, SyncEngine, type SyncOutcome } from '../sync/engine';
import { stateKey, type Progress } from '../sync/executor';
import type { PlanSummary } from '../sync/planner';
import { STATE_TABLES, type RunRecord } from '../sync/ledger';
import { readOutbox } from '../sync/outbox';
import { dialectFor, type Dialect } from '../sync/sql';
import { createStreamSync, type StreamSyncDeps } from '../sync/stream';
import { openWarehouse } from '../warehouse';
import { localPaths, type Warehouse } from '../warehouse/types';
import { formatTable, loadCliConfig, type WarehouseFlags } from './warehouse';

type Flags = WarehouseFlags & { json?: boolean };

function cliLogger(config: Config): Logger {
  // Progress and results go to stdout; logs to stderr so piping stays clean.
  return createLogger({
    level: config.log.level === 'info' ? 'warn' : config.log.level,
    format: config.log.format,
    destination: pino.destination({ fd: 2, sync: true }),
  });
}

function withCommon(cmd: Command): Command {
  return cmd
    .option('-d, --data-dir <dir>', 'data dir of the local stack (default .tagpipe)')
    .option('-c, --config <file>', 'tagpipe.yaml (default ./tagpipe.yaml when present)');
}

export function printPlan(summary: PlanSummary, write: (s: string) => void): void {
  const lines = [
    `sync ${summary.sync} (${summary.mode}): ${summary.total} to send`,
    summary.mode === 'append'
      ? `  new rows: ${summary.sends}${summary.since ? ` (since ${summary.since.toISOString()})` : ''}`
      : `  adds: ${summary.adds}  changes: ${summary.changes}  removes: ${summary.removes}  (audience now ${summary.snapshotSize}, removing ${summary.deletePercent.toFixed(1)}%)`,
    `  consent required: ${summary.purposes.join(', ') || 'none'}`,
  ];
  if (summary.samples.length) {
    lines.push('  samples:');
    for (const s of summary.samples)
      lines.push(`    ${s.action.padEnd(6)} ${s.key}  ${JSON.stringify(s.row).slice(0, 160)}`);
  }
  if (summary.refusal) lines.push('', `REFUSED: ${summary.refusal}`);
  write(`${lines.join('\n')}\n`);
}

function progressReporter(tty: boolean, write: (s: string) => void) {
  const bars = new Map<string, cliProgress.SingleBar>();
  const started = new Map<string, number>();
  let lastLine = 0;
  return {
    update(sync: string, p: Progress) {
      if (!started.has(sync)) started.set(sync, Date.now());
      const seconds = Math.max(0.001, (Date.now() - (started.get(sync) ?? Date.now())) / 1000);
      const rate = Math.round(p.done / seconds);
      if (tty) {
        let bar = bars.get(sync);
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              format: `${sync} [{bar}] {value}/{total} | sent {delivered} | rejected {rejected} | failed {failed} | {rate} rows/s`,
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(p.planned, 0, { delivered: 0, rejected: 0, failed: 0, rate: 0 });
          bars.set(sync, bar);
        }
        bar.update(p.done, { delivered: p.delivered, rejected: p.rejected, failed: p.failed, rate });
      } else if (Date.now() - lastLine > 2000 || p.done === p.planned) {
        lastLine = Date.now();
        write(
          `${sync}: ${p.done}/${p.planned} done, ${p.delivered} sent, ${p.rejected} rejected, ${p.failed} failed, ${rate} rows/s\n`,
        );
      }
    },
    stop() {
      for (const bar of bars.values()) bar.stop();
    },
  };
}

function describeOutcome(o: SyncOutcome): string {
  if (o.error) return `${o.sync}: could not run: ${o.error.message}`;
  const r = o.result?.run;
  if (!r) return `${o.sync}: nothing ran`;
  const parts = [
    `${o.sync}: ${r.status}`,
    `planned ${r.planned}`,
    `sent ${r.delivered}`,
    `rejected ${r.rejected}`,
    `failed ${r.failed}`,
    `requests ${r.requests}`,
  ];
  if (r.unknown) parts.push(`unknown ${r.unknown} (check the destination; not re-sent)`);
  if (o.dryRun) parts.push(`dry-run → ${'outbox'}`);
  if (r.error) parts.push(`error: ${r.error}`);
  return parts.join(', ');
}

/** The statuses a request status check records (RequestVerification.status), in the order they are shown. */
const VERIFICATION_STATUSES = ['success', 'partial', 'failure', 'pending', 'unknown'] as const;

/** What one run's request status check recorded (`_tagpipe.request_status` rows written by that run). */
export interface RunVerification {
  checked: number;
  success: number;
  partial: number;
  failure: number;
  pending: number;
  unknown: number;
  failed_records: number;
  /** The destination's reasons for partial and failed requests. */
  reasons: string | null;
}

/** A `sync_runs` row as `sync status` shows it (its time as the warehouse renders it). */
export interface RunStatus extends Pick<
  RunRecord,
  | 'run_id'
  | 'sync'
  | 'status'
  | 'dry_run'
  | 'planned'
  | 'adds'
  | 'changes'
  | 'removes'
  | 'delivered'
  | 'rejected'
  | 'failed'
  | 'unknown'
  | 'requests'
  | 'error'
> {
  started_at: string;
  /** Absent when the run checked no request (its destination has no check, or nothing was accepted). */
  verification?: RunVerification;
}

const missingTable = (error: unknown) => /does not exist|not found/i.test((error as Error).message);

/** A sync's state keys: its own, and those of its dry-run and validate runs (kept apart, see executor). */
function syncFilter(d: Dialect, column: string, name: string | undefined): string {
  if (!name) return 'TRUE';
  const keys = [false, true].flatMap((dryRun) =>
    [false, true].map((validate) => stateKey({ name }, { dryRun, validate })),
  );
  return `${column} IN (${keys.map((k) => d.str(k)).join(', ')})`;
}

/** Recent runs, newest first, each with the request status its check recorded. */
export async function runStatusList(
  wh: Warehouse,
  q: { name?: string; limit: number; dataset: string },
): Promise<RunStatus[]> {
  const d = dialectFor(wh);
  let runs: RunStatus[];
  try {
    runs = await wh.query<RunStatus>(
      `SELECT run_id, sync, status, dry_run, started_at, planned, adds, changes, removes, delivered, rejected, failed,
              unknown, requests, error
       FROM ${wh.table(q.dataset, STATE_TABLES.runs)} WHERE ${syncFilter(d, 'sync', q.name)}
       ORDER BY started_at DESC LIMIT ${Math.trunc(q.limit)}`,
    );
  } catch (error) {
    if (missingTable(error)) return [];
    throw error;
  }
  if (!runs.length) return runs;
  let checks: (RunVerification & { run_id: string })[] = [];
  const count = (status: string) => `COUNT(CASE WHEN status = '${status}' THEN 1 END) AS ${d.col(status)}`;
  try {
    checks = await wh.query(
      `SELECT run_id, COUNT(*) AS checked, ${VERIFICATION_STATUSES.map(count).join(', ')},
              COALESCE(SUM(failed_records), 0) AS failed_records,
              STRING_AGG(DISTINCT CASE WHEN status IN ('partial', 'failure') THEN errors END, '; ') AS reasons
       FROM ${wh.table(q.dataset, STATE_TABLES.requests)}
       WHERE run_id IN (${runs.map((r) => d.str(r.run_id)).join(', ')}) GROUP BY run_id`,
    );
  } catch (error) {
    if (!missingTable(error)) throw error; // state from before request status checks
  }
  const byRun = new Map(checks.map(({ run_id, ...v }) => [run_id, v]));
  return runs.map((run) => {
    const v = byRun.get(run.run_id);
    return v ? { ...run, verification: v } : run;
  });
}

/** `3 checked: 1 success, 1 partial, 1 pending; 2 failed records`. */
export function describeVerification(v: RunVerification): string {
  const parts = VERIFICATION_STATUSES.filter((k) => v[k] > 0).map((k) => `${v[k]} ${k}`);
  return `${v.checked} checked: ${parts.join(', ')}${v.failed_records ? `; ${v.failed_records} failed records` : ''}`;
}

export interface RequestStatusEntry {
  sync: string;
  request_id: string;
  /** The latest answer: success, partial, failure, pending or unknown. */
  status: string;
  records: number | null;
  failed_records: number | null;
  errors: string | null;
  /** How many checks looked at it, the first and the latest. */
  checks: number;
  first_checked_at: string;
  checked_at: string;
}

/** Requests with the latest status a check recorded for each, latest checked first. */
export async function requestStatusList(
  wh: Warehouse,
  q: { name?: string; limit: number; dataset: string; statuses?: string[] },
): Promise<RequestStatusEntry[]> {
  const d = dialectFor(wh);
  const only = q.statuses?.length ? `AND status IN (${q.statuses.map((s) => d.str(s)).join(', ')})` : '';
  try {
    return await wh.query<RequestStatusEntry>(
      `SELECT sync, request_id, status, records, failed_records, errors, checks, first_checked_at, checked_at FROM (
         SELECT sync, request_id, status, records, failed_records, errors, checked_at,
                COUNT(*) OVER (PARTITION BY sync, request_id) AS checks,
                MIN(checked_at) OVER (PARTITION BY sync, request_id) AS first_checked_at,
                ROW_NUMBER() OVER (PARTITION BY sync, request_id ORDER BY checked_at DESC) AS latest
         FROM ${wh.table(q.dataset, STATE_TABLES.requests)} WHERE ${syncFilter(d, 'sync', q.name)}
       ) t WHERE latest = 1 ${only}
       ORDER BY checked_at DESC, sync, request_id LIMIT ${Math.trunc(q.limit)}`,
    );
  } catch (error) {
    if (missingTable(error)) return [];
    throw error;
  }
}

export function registerSync(program: Command): void {
  const sync = program.command('sync').description('plan and run syncs from marts to destinations');

  withCommon(sync.command('plan').argument('<name>', 'sync name from tagpipe.yaml'))
    .description('show what a run would send: counts and samples (computed in the warehouse)')
    .option('--force', 'accept removing more than maxDeletePercent of a mirrored audience')
    .option('--json', 'print the plan as JSON')
    .action(async (name: string, flags: Flags & { force?: boolean }) => {
      const config = loadCliConfig(flags);
      const engine = new SyncEngine({ config, logger: cliLogger(config) });
      const outcome = await engine.run(name, { planOnly: true, force: flags.force });
      const summary = outcome.result?.plan as PlanSummary;
      if (flags.json) {
        const { sourceSql: _s, planTable: _t, ...rest } = summary;
        process.stdout.write(`${JSON.stringify({ ...rest, dryRun: outcome.dryRun })}\n`);
      } else {
        printPlan(summary, (s) => process.stdout.write(s));
        if (outcome.missingCredentials.length) {
          process.stdout.write(
            `  credentials absent (${outcome.missingCredentials.join(', ')}): a run would write to the outbox\n`,
          );
        }
      }
      if (summary.refusal) process.exitCode = 3;
    });

  withCommon(sync.command('run').argument('[name]', 'sync name from tagpipe.yaml'))
    .description('run one sync, or every sync whose cadence is due (--due)')
    .option('--due', 'run every batch sync whose cron cadence has come due')
    .option('--dry-run', 'write the requests to the outbox instead of sending them')
    .option('--validate', "use the destination's validation mode (nothing reaches live data)")
    .option('--force', 'accept removing more than maxDeletePercent of a mirrored audience')
    .action(
      async (
        name: string | undefined,
        flags: Flags & { due?: boolean; dryRun?: boolean; validate?: boolean; force?: boolean },
      ) => {
        if (!name && !flags.due) {
          process.stderr.write('tagpipe: say which sync to run (tagpipe sync run NAME) or pass --due\n');
          process.exitCode = 2;
          return;
        }
        const config = loadCliConfig(flags);
        const engine = new SyncEngine({ config, logger: cliLogger(config) });
        const reporter = progressReporter(Boolean(process.stdout.isTTY), (s) => process.stdout.write(s));
        const options = {
          dryRun: flags.dryRun,
          validate: flags.validate,
          force: flags.force,
          onProgress: reporter.update,
        };
        let outcomes: SyncOutcome[];
        try {
          outcomes = name ? [await engine.run(name, options)] : await engine.runDue(options);
        } finally {
          reporter.stop();
        }
        if (!outcomes.length) process.stdout.write('no sync is due\n');
        for (const o of outcomes) {
          process.stdout.write(`${describeOutcome(o)}\n`);
          if (o.result?.run.status === 'refused') printPlan(o.result.plan, (s) => process.stdout.write(s));
          if (o.dryRun)
            process.stdout.write(
              `  requests: ${localPaths(config.dataDir).outbox}/${o.sync}.jsonl (tagpipe sync outbox ${o.sync})\n`,
            );
        }
        if (outcomes.some((o) => o.result?.run.status === 'refused')) process.exitCode = 3;
        else if (outcomes.some(outcomeFailed)) process.exitCode = 1;
      },
    );

  withCommon(sync.command('status').argument('[name]', 'only this sync (and its dry-run and validate state)'))
    .description('recent sync runs, newest first, with what the destination made of their requests')
    .option('-n, --limit <n>', 'how many runs (or requests)', '20')
    .option('--requests', 'list requests with their final verification status instead of runs')
    .option('--status <list>', 'with --requests: only these statuses, e.g. partial,failure')
    .option('--json', 'print one JSON object per run (or request)')
    .action(async (name: string | undefined, flags: Flags & { limit: string; requests?: boolean; status?: string }) => {
      const config = loadCliConfig(flags);
      const wh = await openWarehouse(config, { readOnly: true, lockTimeoutMs: 60_000 });
      try {
        const query = { name, limit: Math.max(1, Number(flags.limit) || 20), dataset: config.warehouse.stateDataset };
        if (flags.requests) {
          const statuses = (flags.status ?? '')
            .split(',')
            .map((v) => v.trim())
            .filter(Boolean);
          const rows = await requestStatusList(wh, { ...query, statuses });
          if (flags.json) for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
          else if (!rows.length) process.stdout.write('no request status recorded yet\n');
          else
            process.stdout.write(
              `${formatTable(
                Object.keys(rows[0]),
                rows.map((r) => ({ ...r })),
                60,
              )}\n`,
            );
          return;
        }
        const runs = await runStatusList(wh, query);
        if (flags.json) for (const r of runs) process.stdout.write(`${JSON.stringify(r)}\n`);
        else if (!runs.length) process.stdout.write('no sync has run yet\n');
        else {
          const rows = runs.map(({ run_id: _id, verification: v, error, ...r }) => ({
            ...r,
            verified: v ? describeVerification(v) : '',
            error,
          }));
          process.stdout.write(`${formatTable(Object.keys(rows[0]), rows, 64)}\n`);
        }
      } finally {
        await wh.close();
      }
    });

  withCommon(sync.command('outbox').argument('<name>', 'sync name'))
    .description('print the requests dry runs of a sync wrote to the outbox')
    .option('-n, --limit <n>', 'show the last n requests', '20')
    .option('--json', 'print the raw JSON lines')
    .action((name: string, flags: Flags & { limit: string }) => {
      const config = loadCliConfig(flags);
      const entries = readOutbox(localPaths(config.dataDir).outbox, name);
      const shown = entries.slice(-Math.max(1, Number(flags.limit) || 20));
      if (!entries.length) {
        process.stdout.write(`no dry-run requests for ${name} (${localPaths(config.dataDir).outbox}/${name}.jsonl)\n`);
        return;
      }
      for (const e of shown) {
        if (flags.json) {
          process.stdout.write(`${JSON.stringify(e)}\n`);
          continue;
        }
        let body = e.body ?? '';
        try {
          body = JSON.stringify(JSON.parse(body), null, 2);
        } catch {
          /* not JSON: print as sent */
        }
        process.stdout.write(`${e.at}  ${e.method} ${e.url}\n${body}\n\n`);
      }
      if (!flags.json) process.stdout.write(`(${shown.length} of ${entries.length} requests)\n`);
    });

  withCommon(program.command('stream-sync'))
    .description('serve the Pub/Sub push endpoint for cadence: stream syncs (POST /, PORT from the environment)')
    .option('-p, --port <port>', 'HTTP port (default PORT or 8080)')
    .action(async (flags: Flags & { port?: string }) => {
      const config = loadCliConfig({ ...flags });
      const logger = createLogger({ level: config.log.level, format: config.log.format });
      const port = Number(flags.port ?? config.server.port);
      const server = await serveStreamSync(config, logger, port);
      logger.info({ port }, 'stream-sync listening');
      const stop = () => server.close(() => process.exit(0));
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}

/** An HTTP server answering Pub/Sub push requests with the stream handler. */
export async function serveStreamSync(
  config: Config,
  logger: Logger,
  port: number,
  host = config.server.host,
  deps: Partial<StreamSyncDeps> = {},
): Promise<http.Server> {
  const handler = createStreamSync(config, {
    logger,
    openWarehouse: () => openWarehouse(config, { readOnly: false, lockTimeoutMs: 30_000 }),
    closeWarehouse: config.warehouse.kind !== 'bigquery',
    ...deps,
  });
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        if (req.method !== 'POST') {
          res.writeHead(req.url === '/healthz' ? 200 : 405, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: req.url === '/healthz', syncs: handler.syncs.map((s) => s.name) }));
          return;
        }
        let body: unknown = null;
        try {
          body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        } catch {
          /* handled as a bad envelope */
        }
        try {
          const answer = await handler.handlePush(body);
          res.writeHead(answer.status, { 'content-type': 'application/json', ...(answer.headers ?? {}) });
          res.end(JSON.stringify(answer.body));
        } catch (error) {
          logger.error({ err: error }, 'stream-sync failed; Pub/Sub will redeliver');
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: (error as Error).message }));
        }
      })();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, host, resolve));
  return server;
}
