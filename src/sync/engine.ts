/**
 * Glue between config and the executor, shared by the CLI, the Cloud Run Job and the local stack: finds the
 * destination module, validates its config (deciding dry-run when credentials are absent), opens the right
 * warehouse, picks the HTTP client (real, or the dry-run outbox) and runs one sync or every due one.
 */
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config } from '../core/config';
import { systemClock, type Clock, type Destination, type HttpClient } from '../core/destination';
import { ConfigError } from '../core/errors';
import { createHttpClient, DEFAULT_USER_AGENT } from '../core/http';
import type { SyncWarehouse } from '../warehouse/duckdb';
import { openWarehouse } from '../warehouse';
import { localPaths } from '../warehouse/types';
import { findSync, parseSyncs, type SyncDefinition } from './config';
import { isDue } from './cron';
import { runSync, type ExecutorDeps, type Progress, type RunResult } from './executor';
import { Runs, ensureState } from './ledger';
import { createOutboxHttpClient } from './outbox';
import { dialectFor } from './sql';

export type DestinationRegistry = Record<string, Destination<unknown>>;

const DESTINATIONS_DIR = path.join(__dirname, '..', '..', 'destinations');

function isDestination(value: unknown): value is Destination<unknown> {
  const v = value as Partial<Destination<unknown>> | null;
  return Boolean(
    v && typeof v === 'object' && typeof v.name === 'string' && typeof v.send === 'function' && v.configSchema,
  );
}

/** Loads `destinations/<name>` (its default export, or the one exported Destination). */
export function loadDestination(name: string, registry?: DestinationRegistry): Destination<unknown> {
  if (registry?.[name]) return registry[name];
  if (!/^[a-z0-9-]+$/.test(name)) throw new ConfigError(`destination "${name}" is not a valid name`, 'syncs');
  let mod: Record<string, unknown>;
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    mod = require(path.join(DESTINATIONS_DIR, name)) as Record<string, unknown>;
  } catch (error) {
    if (
      (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' &&
      String((error as Error).message).includes(name)
    ) {
      throw new ConfigError(`unknown destination "${name}" (no folder destinations/${name})`, 'syncs');
    }
    throw error;
  }
  const found = isDestination(mod.default) ? mod.default : Object.values(mod).find(isDestination);
  if (!found) throw new ConfigError(`destinations/${name} exports no Destination`, 'syncs');
  return found;
}

export interface ResolvedConfig {
  config: unknown;
  /** Fields left out of the config (credentials absent): the sync runs in dry-run. */
  missing: string[];
}

function getPath(obj: unknown, keys: PropertyKey[]): unknown {
  let node = obj;
  for (const key of keys) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}

/**
 * Validates a destination config. Missing fields (typically `${ENV}` secrets left out locally) do not fail: they
 * are filled with a placeholder and reported, and the caller runs the sync in dry-run so the requests land in the
 * outbox instead.
 */
export function resolveDestinationConfig(
  destination: Destination<unknown>,
  raw: Record<string, unknown>,
  sync: string,
): ResolvedConfig {
  const first = destination.configSchema.safeParse(raw);
  if (first.success) return { config: first.data, missing: [] };
  const issues = first.error.issues;
  const missingIssues = issues.filter((i) => getPath(raw, i.path) === undefined && i.path.length > 0);
  const fail = (list: typeof issues) =>
    new ConfigError(
      `sync ${sync}: invalid config for destination ${destination.name}:\n` +
        list.map((i) => `  ${i.path.join('.') || '(config)'}: ${i.message}`).join('\n'),
      `destinations.${destination.name}`,
    );
  if (missingIssues.length !== issues.length) throw fail(issues);
  const filled: Record<string, unknown> = structuredClone(raw);
  for (const issue of missingIssues) {
    let node = filled;
    issue.path.slice(0, -1).forEach((k) => {
      const key = k as string;
      node[key] ??= {};
      node = node[key] as Record<string, unknown>;
    });
    node[issue.path[issue.path.length - 1] as string] = 'dry-run';
  }
  const second = destination.configSchema.safeParse(filled);
  if (!second.success) throw fail(issues);
  return { config: second.data, missing: missingIssues.map((i) => i.path.join('.')) };
}

export interface EngineOptions {
  config: Config;
  logger: Logger;
  clock?: Clock;
  registry?: DestinationRegistry;
  /** Open the warehouse for sync runs (tests and BigQuery pass one in). */
  warehouse?: SyncWarehouse;
  /** Real HTTP transport; defaults to createHttpClient. */
  http?: HttpClient;
}

export interface RunOptions {
  dryRun?: boolean;
  validate?: boolean;
  force?: boolean;
  planOnly?: boolean;
  onProgress?: (sync: string, progress: Progress) => void;
}

export interface SyncOutcome {
  sync: string;
  result?: RunResult;
  dryRun: boolean;
  missingCredentials: string[];
  error?: Error;
}

/** Opens the warehouse the config names, read-write (syncs write state). */
export function openSyncWarehouse(config: Config): Promise<SyncWarehouse> {
  return openWarehouse(config, { readOnly: false, lockTimeoutMs: 120_000 });
}

export class SyncEngine {
  readonly syncs: SyncDefinition[];
  private readonly clock: Clock;

  constructor(private readonly options: EngineOptions) {
    this.syncs = parseSyncs(options.config);
    this.clock = options.clock ?? systemClock;
  }

  private async withWarehouse<T>(fn: (wh: SyncWarehouse) => Promise<T>): Promise<T> {
    if (this.options.warehouse) return fn(this.options.warehouse);
    const wh = await openSyncWarehouse(this.options.config);
    try {
      return await fn(wh);
    } finally {
      await wh.close();
    }
  }

  /** Runs one sync by name. Errors in config throw; delivery problems are in the result. */
  async run(name: string, options: RunOptions = {}): Promise<SyncOutcome> {
    const sync = findSync(this.syncs, name);
    return this.withWarehouse((wh) => this.runOne(wh, sync, options));
  }

  private async runOne(wh: SyncWarehouse, sync: SyncDefinition, options: RunOptions): Promise<SyncOutcome> {
    const { config, logger } = this.options;
    const destination = loadDestination(sync.destination, this.options.registry);
    const resolved = resolveDestinationConfig(destination, sync.destinationConfig, sync.name);
    const dryRun = Boolean(options.dryRun || sync.dryRun || resolved.missing.length);
    if (resolved.missing.length) {
      logger.warn(
        { sync: sync.name, missing: resolved.missing },
        `sync ${sync.name}: ${destination.name} credentials absent (${resolved.missing.join(', ')}): dry-run, requests go to the outbox`,
      );
    }
    const http = dryRun
      ? createOutboxHttpClient({
          outboxDir: localPaths(config.dataDir).outbox,
          sync: sync.name,
          destination: destination.name,
          clock: this.clock,
        })
      : (this.options.http ?? createHttpClient({ timeoutMs: 30_000, userAgent: DEFAULT_USER_AGENT }));
    const deps: ExecutorDeps = {
      warehouse: wh,
      destination,
      destinationConfig: resolved.config,
      http,
      logger,
      clock: this.clock,
      stateDataset: config.warehouse.stateDataset,
      martsDataset: config.warehouse.martsDataset,
      dryRun,
      validate: options.validate || sync.validate,
      force: options.force,
      planOnly: options.planOnly,
      onProgress: options.onProgress ? (p) => options.onProgress?.(sync.name, p) : undefined,
    };
    const result = await runSync(sync, deps);
    return { sync: sync.name, result, dryRun, missingCredentials: resolved.missing };
  }

  /** Batch syncs whose cron cadence has come due since their last run. */
  async dueSyncs(wh: SyncWarehouse): Promise<SyncDefinition[]> {
    const d = dialectFor(wh);
    const dataset = this.options.config.warehouse.stateDataset;
    await ensureState(wh, d, dataset);
    const last = await new Runs(wh, d, dataset).lastFinished();
    const now = this.clock.now();
    return this.syncs.filter(
      (s) => s.enabled && s.cadence !== 'stream' && isDue(s.cadence, last.get(s.name) ?? null, now),
    );
  }

  /** Runs every due sync, one after another; one failing does not stop the rest. */
  async runDue(options: RunOptions = {}): Promise<SyncOutcome[]> {
    return this.withWarehouse(async (wh) => {
      const due = await this.dueSyncs(wh);
      const outcomes: SyncOutcome[] = [];
      for (const sync of due) {
        try {
          outcomes.push(await this.runOne(wh, sync, options));
        } catch (error) {
          this.options.logger.error({ err: error, sync: sync.name }, 'sync could not run');
          outcomes.push({
            sync: sync.name,
            dryRun: Boolean(options.dryRun),
            missingCredentials: [],
            error: error as Error,
          });
        }
      }
      return outcomes;
    });
  }

  /** Recent runs, newest first. */
  async status(limit = 20): Promise<Awaited<ReturnType<Runs['recent']>>> {
    return this.withWarehouse(async (wh) => {
      const d = dialectFor(wh);
      await ensureState(wh, d, this.options.config.warehouse.stateDataset);
      return new Runs(wh, d, this.options.config.warehouse.stateDataset).recent(limit);
    });
  }
}

/** A run counts as failed for exit codes when it could not run, failed, or was refused by the deletion guard. */
export function outcomeFailed(outcome: SyncOutcome): boolean {
  if (outcome.error) return true;
  const status = outcome.result?.run.status;
  return status === 'failed' || status === 'refused';
}
