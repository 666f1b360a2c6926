/**
 * EmbeddedBus: the local-mode EventBus. Each topic is a TopicLog (segment files under
 * `localPaths(dataDir).bus/<topic>/`); `publish` resolves once the records are fsynced (group commit across
 * concurrent callers). Subscriptions are named, checkpointed readers: a batch is handed to the handler, and only
 * after the handler resolves is the checkpoint persisted, so a crash redelivers rather than loses. A handler
 * rejection redelivers the same batch after a backoff. Readers wake on the log's `append` event, with a slow
 * timer as a fallback.
 *
 * One process owns a bus directory at a time (a LOCK file holding the owner's pid; a lock left by a dead
 * process is taken over).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { silentLogger, type Logger } from '../core/logger';
import { isErrno } from './fsutil';
import { assertSubscriptionName, TopicLog } from './log';
import type {
  BatchHandler,
  BusHealth,
  BusMessage,
  DeliveredMessage,
  EventBus,
  PublishResult,
  SubscribeOptions,
  Subscription,
  TopicKey,
} from './types';

export interface EmbeddedBusOptions {
  /** The bus directory, normally `localPaths(dataDir).bus`. */
  dir: string;
  logger?: Logger;
  /** Directory name per topic; defaults to the config defaults (`events`, `events-invalid`). */
  topics?: { events: string; invalid: string };
  /** Segment size that triggers rotation; retention works in whole segments. Default 64 MiB. */
  segmentMaxBytes?: number;
  /** Coalesce concurrent publishes into one write + fsync (default true). */
  groupCommit?: boolean;
  /** Commits writing and syncing at once per topic (see TopicLog). */
  maxInFlight?: number;
  /** Redelivery backoff after a handler rejection. */
  retry?: { initialMs: number; maxMs: number };
  /** Fallback reader wake-up when no append event arrives. */
  idlePollMs?: number;
}

const DEFAULT_SEGMENT_BYTES = 64 * 1024 * 1024;
const DEFAULT_MAX_BATCH = 500;
const DEFAULT_MAX_WAIT_MS = 100;

export class EmbeddedBus implements EventBus {
  readonly kind = 'embedded' as const;
  private readonly subscriptions = new Set<LogSubscription>();
  private closed = false;

  private constructor(
    private readonly options: EmbeddedBusOptions,
    private readonly logger: Logger,
    private readonly logs: Record<TopicKey, TopicLog>,
    private readonly lockFile: string,
  ) {}

  static async open(options: EmbeddedBusOptions): Promise<EmbeddedBus> {
    const logger = (options.logger ?? silentLogger).child({ component: 'bus', bus: 'embedded' });
    await fs.mkdir(options.dir, { recursive: true });
    const lockFile = path.join(options.dir, 'LOCK');
    await acquireLock(lockFile, logger);
    try {
      const topics = options.topics ?? { events: 'events', invalid: 'events-invalid' };
      if (topics.events === topics.invalid) throw new Error('bus topics for events and invalid events must differ');
      const common = {
        logger,
        segmentMaxBytes: options.segmentMaxBytes ?? DEFAULT_SEGMENT_BYTES,
        groupCommit: options.groupCommit ?? true,
        maxInFlight: options.maxInFlight,
      };
      const events = await TopicLog.open({ ...common, dir: path.join(options.dir, topics.events) });
      const invalid = await TopicLog.open({ ...common, dir: path.join(options.dir, topics.invalid) });
      return new EmbeddedBus(options, logger, { events, 'events-invalid': invalid }, lockFile);
    } catch (err) {
      await fs.rm(lockFile, { force: true });
      throw err;
    }
  }

  /** The underlying log of a topic (tests, the spool, benchmarks). */
  log(topic: TopicKey): TopicLog {
    return this.logs[topic];
  }

  publish(topic: TopicKey, messages: BusMessage[]): Promise<PublishResult> {
    const log = this.logs[topic];
    if (!log) return Promise.reject(new Error(`unknown topic ${String(topic)}`));
    return log.append(messages).then((messageIds) => ({ messageIds }));
  }

  subscribe(
    topic: TopicKey,
    subscription: string,
    handler: BatchHandler,
    options: SubscribeOptions = {},
  ): Subscription {
    if (this.closed) throw new Error('embedded bus is closed');
    assertSubscriptionName(subscription);
    const log = this.logs[topic];
    for (const s of this.subscriptions) {
      if (s.log === log && s.name === subscription) throw new Error(`subscription ${subscription} is already open`);
    }
    const sub = new LogSubscription(log, subscription, handler, {
      maxBatch: options.maxBatch ?? DEFAULT_MAX_BATCH,
      maxWaitMs: options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS,
      retry: this.options.retry ?? { initialMs: 200, maxMs: 30_000 },
      idlePollMs: this.options.idlePollMs ?? 2_000,
      logger: this.logger.child({ subscription }),
      onClose: () => this.subscriptions.delete(sub),
    });
    this.subscriptions.add(sub);
    return sub;
  }

  health(): BusHealth {
    const failing = Object.values(this.logs).find((l) => l.error);
    if (this.closed) return { ok: false, spooled: 0, detail: 'closed' };
    if (failing) return { ok: false, spooled: 0, detail: `log ${failing.dir} is failing: ${failing.error?.message}` };
    return { ok: true, spooled: 0 };
  }

  async flush(): Promise<void> {
    await Promise.all(Object.values(this.logs).map((l) => l.flush()));
  }

  /** Stops readers (each finishes its current batch), waits for in-flight commits, releases the directory. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.subscriptions].map((s) => s.close()));
    await Promise.all(Object.values(this.logs).map((l) => l.close()));
    await fs.rm(this.lockFile, { force: true });
  }
}

async function acquireLock(file: string, logger: Logger): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await fs.writeFile(file, String(process.pid), { flag: 'wx' });
      return;
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const owner = Number((await fs.readFile(file, 'utf8').catch(() => '')).trim());
    if (owner > 0 && isAlive(owner)) {
      throw new Error(
        `bus directory ${path.dirname(file)} is in use by process ${owner}` +
          (owner === process.pid ? ' (this process: close the other EmbeddedBus first)' : ''),
      );
    }
    logger.warn(
      { lockFile: file, deadPid: owner || null },
      'embedded bus: taking over a lock left by a stopped process',
    );
    await fs.rm(file, { force: true });
  }
  throw new Error(`could not lock ${file}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return isErrno(err, 'EPERM');
  }
}

interface ReaderOptions {
  maxBatch: number;
  maxWaitMs: number;
  retry: { initialMs: number; maxMs: number };
  idlePollMs: number;
  logger: Logger;
  onClose: () => void;
}

/** One named reader: read from checkpoint → handler → persist checkpoint, forever. */
class LogSubscription implements Subscription {
  private closed = false;
  private wakeUp: (() => void) | null = null;
  private readonly done: Promise<void>;

  constructor(
    readonly log: TopicLog,
    readonly name: string,
    private readonly handler: BatchHandler,
    private readonly options: ReaderOptions,
  ) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    const { logger, retry } = this.options;
    let position = this.log.register(this.name);
    let failures = 0;
    while (!this.closed) {
      let batch: { messages: DeliveredMessage[]; next: number };
      try {
        batch = await this.collect(position);
      } catch (err) {
        logger.error({ err }, 'embedded bus: reading the log failed; retrying');
        await this.sleep(backoff(++failures, retry));
        continue;
      }
      if (batch.messages.length === 0) continue; // closed, or a skipped corrupt segment
      try {
        await this.handler(batch.messages);
      } catch (err) {
        failures += 1;
        const delay = backoff(failures, retry);
        logger.warn(
          { err, messages: batch.messages.length, attempt: failures, retryInMs: delay },
          'handler failed; redelivering',
        );
        await this.sleep(delay);
        continue; // same position: the batch is delivered again
      }
      failures = 0;
      try {
        await this.log.saveCheckpoint(this.name, batch.next);
        position = batch.next;
      } catch (err) {
        // The handler succeeded but the checkpoint is not durable: redeliver (at-least-once).
        logger.error({ err }, 'embedded bus: checkpoint write failed; the batch will be delivered again');
        await this.sleep(backoff(1, retry));
      }
    }
  }

  /** Waits for at least one message, then up to maxWaitMs for a full batch. */
  private async collect(position: number): Promise<{ messages: DeliveredMessage[]; next: number }> {
    const { maxBatch, maxWaitMs, idlePollMs } = this.options;
    let result = await this.log.read(position, maxBatch, this.name);
    while (result.messages.length === 0 && !this.closed) {
      if (this.log.end <= result.next) await this.sleep(idlePollMs, true);
      result = await this.log.read(result.next, maxBatch, this.name);
    }
    const deadline = Date.now() + maxWaitMs;
    while (!this.closed && result.messages.length < maxBatch && Date.now() < deadline) {
      if (this.log.end <= result.next) await this.sleep(deadline - Date.now(), true);
      const more = await this.log.read(result.next, maxBatch - result.messages.length, this.name);
      if (more.messages.length === 0 && more.next === result.next) continue;
      result = { messages: result.messages.concat(more.messages), next: more.next };
    }
    if (this.closed) return { messages: [], next: position };
    return result;
  }

  /** Sleeps `ms`, or until close (and, with wakeOnAppend, until the next append). */
  private sleep(ms: number, wakeOnAppend = false): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        if (wakeOnAppend) this.log.events.off('append', finish);
        this.log.events.off('close', finish);
        this.wakeUp = null;
        resolve();
      };
      const timer = setTimeout(finish, Math.max(0, ms));
      if (wakeOnAppend) this.log.events.on('append', finish);
      this.log.events.on('close', finish);
      this.wakeUp = finish;
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.wakeUp?.();
    await this.done;
    this.options.onClose();
  }
}

function backoff(attempt: number, retry: { initialMs: number; maxMs: number }): number {
  const base = Math.min(retry.maxMs, retry.initialMs * 2 ** Math.min(attempt - 1, 20));
  return Math.round(base / 2 + Math.random() * (base / 2));
}
