/**
 * The local stack's warehouse jobs: the dbt models every `intervalSeconds` (and sooner after a burst of landed
 * events), then the batch syncs that are due. One job at a time, because DuckDB lets one process write the
 * warehouse file at once; a failed run is logged and the next one tries again.
 */
import type { Logger } from '../core/logger';
import { dbtExecutable, findProjectRoot, runDbt } from '../warehouse/dbt';

export interface WarehouseSchedulerOptions {
  dataDir: string;
  intervalSeconds: number;
  afterEvents: number;
  logger: Logger;
  /** Run the dbt models (false: only the syncs). */
  models: boolean;
  /** Runs after each models build (the due batch syncs); errors are logged. */
  afterModels?: () => Promise<void>;
}

export class WarehouseScheduler {
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private landedSinceRun = 0;
  private stopped = false;
  private modelsAvailable = false;
  runs = 0;
  failures = 0;

  constructor(private readonly options: WarehouseSchedulerOptions) {}

  start(): void {
    if (this.options.models) {
      try {
        dbtExecutable(findProjectRoot());
        this.modelsAvailable = true;
      } catch (err) {
        this.options.logger.warn(`models will not run: ${(err as Error).message}`);
      }
    }
    if (this.options.intervalSeconds > 0 && (this.modelsAvailable || this.options.afterModels)) {
      this.timer = setInterval(() => void this.trigger('schedule'), this.options.intervalSeconds * 1000);
      this.timer.unref();
      // A first build soon after start, so the marts exist without waiting a whole interval.
      setTimeout(() => void this.trigger('start'), 3000).unref();
    }
  }

  noteLanded(rows: number): void {
    this.landedSinceRun += rows;
    if (this.options.afterEvents > 0 && this.landedSinceRun >= this.options.afterEvents) void this.trigger('burst');
  }

  /** Starts a run unless one is going; resolves when that run ends. */
  trigger(reason: string): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) return this.running;
    this.landedSinceRun = 0;
    this.running = this.runOnce(reason).finally(() => {
      this.running = null;
    });
    return this.running;
  }

  private async runOnce(reason: string): Promise<void> {
    const log = this.options.logger;
    const started = Date.now();
    if (this.modelsAvailable) {
      try {
        const result = await runDbt(['build', '--quiet'], {
          dataDir: this.options.dataDir,
          target: 'local',
          onLine: (line: string) => log.debug({ dbt: line }, 'dbt'),
        });
        this.runs++;
        if (result.code === 0) log.info({ reason, ms: Date.now() - started }, 'models built');
        else {
          this.failures++;
          log.warn({ reason, exitCode: result.code }, 'models run failed; run `npx tagpipe models run` to see why');
        }
      } catch (err) {
        this.failures++;
        log.warn({ err }, 'models run could not start');
      }
    }
    if (this.options.afterModels && !this.stopped) {
      try {
        await this.options.afterModels();
      } catch (err) {
        log.warn({ err }, 'due syncs failed');
      }
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }
}
