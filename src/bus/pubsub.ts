/**
 * PubSubBus: the production EventBus on Google Pub/Sub, with an on-disk spool for outages.
 *
 * publish() resolves once Pub/Sub confirmed every message. When Pub/Sub errors or does not answer within
 * `publishTimeoutMs`, the unconfirmed messages are appended to the spool (an EmbeddedBus log, fsynced) and
 * publish() still resolves: the messages are durable. While the spool holds a backlog, new publishes go to the
 * spool too, so one replayer per topic drains it in log order, batch by batch, checkpointing only what Pub/Sub
 * confirmed; a failed replay batch is retried with backoff, which doubles as the recovery probe. Once the
 * backlog would exceed `spoolMaxBytes`, publish() rejects with UnavailableError (the collector answers 503 +
 * Retry-After). Delivery is at-least-once: a publish that timed out may also have reached Pub/Sub.
 *
 * Message ids: Pub/Sub's for confirmed messages; `spool:<log id>` for spooled ones (Pub/Sub assigns the final
 * id on replay). The client honours PUBSUB_EMULATOR_HOST (or `apiEndpoint`) for the emulator.
 */
import path from 'node:path';
import { PubSub, type Message, type Topic } from '@google-cloud/pubsub';
import type { Config } from '../core/config';
import { ConfigError, UnavailableError } from '../core/errors';
import { silentLogger, type Logger } from '../core/logger';
import { localPaths } from '../warehouse/types';
import { EmbeddedBus } from './embedded';
import { dataBytes } from './types';
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

export interface PubSubBusOptions {
  projectId: string;
  topics: { events: string; invalid: string };
  /** Spool directory (an embedded log); survives restarts of the process. */
  spoolDir: string;
  /** Largest un-replayed spool backlog, in bytes, before publish() rejects. */
  spoolMaxBytes: number;
  logger?: Logger;
  /** host:port of an emulator; otherwise PUBSUB_EMULATOR_HOST or the real service. */
  apiEndpoint?: string;
  /** How long one publish may take (gax retries included) before its messages are spooled. */
  publishTimeoutMs?: number;
  /**
   * Replay only into a topic that has at least one subscription: Pub/Sub discards messages published to a
   * topic without subscriptions (e.g. a recreated topic). Needs `pubsub.topics.get`-level viewer access.
   */
  replayRequiresSubscription?: boolean;
  /** subscribe() creates a missing pull subscription (tests, local feeding). */
  createSubscriptions?: boolean;
  /** Backoff between failed replay attempts. */
  replayRetry?: { initialMs: number; maxMs: number };
}

/**
 * Publisher batching tuned for latency: the collector waits for the confirmation before answering, so a batch
 * leaves after at most 5 ms (Pub/Sub's limits: 1000 messages and 10 MB per request; we stay at 100 / ~1 MB).
 */
const BATCHING = { maxMessages: 100, maxMilliseconds: 5, maxBytes: 1_000_000 };
/**
 * Flow control: the client only enforces its own limits through `flowControlled()`, which waits; the collector
 * must not wait, so messages beyond these in-flight limits go to the spool instead (memory stays bounded, the
 * spool's disk bound then applies, then 503).
 */
const MAX_OUTSTANDING_MESSAGES = 20_000;
const MAX_OUTSTANDING_BYTES = 128 * 1024 * 1024;
const REPLAY_SUBSCRIPTION = 'replay';

export class PubSubBus implements EventBus {
  readonly kind = 'pubsub' as const;
  private readonly topicRefs: Record<TopicKey, Topic>;
  private readonly backlog: Record<TopicKey, number> = { events: 0, 'events-invalid': 0 };
  private readonly inflight = new Set<Promise<unknown>>();
  private outstanding = { messages: 0, bytes: 0 };
  private readonly replayers: Subscription[] = [];
  private readonly pullers = new Set<PullSubscription>();
  private lastError: string | null = null;
  /** Set when a publish was refused for a full spool; cleared once the spool takes messages again. */
  private spoolFull = false;
  private closed = false;

  private constructor(
    private readonly options: PubSubBusOptions,
    private readonly logger: Logger,
    private readonly client: PubSub,
    private readonly spool: EmbeddedBus,
  ) {
    const timeout = options.publishTimeoutMs ?? 10_000;
    const topicOptions = { batching: BATCHING, gaxOpts: { timeout } };
    this.topicRefs = {
      events: client.topic(options.topics.events, topicOptions),
      'events-invalid': client.topic(options.topics.invalid, topicOptions),
    };
  }

  static async open(options: PubSubBusOptions): Promise<PubSubBus> {
    const logger = (options.logger ?? silentLogger).child({ component: 'bus', bus: 'pubsub' });
    const client = new PubSub({
      projectId: options.projectId,
      ...(options.apiEndpoint ? { apiEndpoint: options.apiEndpoint } : {}),
    });
    const spool = await EmbeddedBus.open({
      dir: options.spoolDir,
      logger,
      // Small segments so replayed space is released soon (retention works in whole segments).
      segmentMaxBytes: Math.max(64 * 1024, Math.min(8 * 1024 * 1024, Math.floor(options.spoolMaxBytes / 8))),
      retry: options.replayRetry ?? { initialMs: 500, maxMs: 15_000 },
      idlePollMs: 5_000,
    });
    const bus = new PubSubBus(options, logger, client, spool);
    for (const key of ['events', 'events-invalid'] as const) {
      const log = spool.log(key);
      bus.backlog[key] = await log.countFrom(log.checkpoint(REPLAY_SUBSCRIPTION));
      if (bus.backlog[key] > 0)
        logger.warn({ topic: key, spooled: bus.backlog[key] }, 'pubsub bus: replaying spooled messages');
    }
    bus.startReplayers();
    return bus;
  }

  /** Opens the bus from config; the spool lives under `<dataDir>/spool`. */
  static fromConfig(config: Config, logger: Logger): Promise<PubSubBus> {
    if (!config.bus.projectId) throw new ConfigError('bus.projectId: expected a GCP project id', 'bus.projectId');
    return PubSubBus.open({
      projectId: config.bus.projectId,
      topics: config.bus.topics,
      spoolDir: path.join(localPaths(config.dataDir).root, 'spool'),
      spoolMaxBytes: config.bus.spoolMaxBytes,
      logger,
    });
  }

  private topicName(key: TopicKey): string {
    return key === 'events' ? this.options.topics.events : this.options.topics.invalid;
  }

  async publish(topic: TopicKey, messages: BusMessage[]): Promise<PublishResult> {
    if (this.closed) throw new UnavailableError('pubsub bus is closed');
    if (messages.length === 0) return { messageIds: [] };
    if (this.backlog[topic] > 0) return this.toSpool(topic, messages);
    const bytes = messages.reduce((sum, m) => sum + dataBytes(m.data), 0);
    if (
      this.outstanding.messages + messages.length > MAX_OUTSTANDING_MESSAGES ||
      this.outstanding.bytes + bytes > MAX_OUTSTANDING_BYTES
    ) {
      this.lastError = 'too many publishes in flight';
      return this.toSpool(topic, messages);
    }
    const ref = this.topicRefs[topic];
    this.outstanding.messages += messages.length;
    this.outstanding.bytes += bytes;
    const attempt = Promise.allSettled(
      messages.map((m) =>
        withTimeout(
          ref.publishMessage({
            data: typeof m.data === 'string' ? Buffer.from(m.data) : m.data,
            attributes: m.attributes,
          }),
          this.timeoutMs(),
        ),
      ),
    );
    this.track(attempt);
    const settled = await attempt;
    this.outstanding.messages -= messages.length;
    this.outstanding.bytes -= bytes;
    const failed = messages.filter((_, i) => settled[i].status === 'rejected');
    if (failed.length === 0) {
      this.lastError = null;
      return { messageIds: settled.map((s) => (s as PromiseFulfilledResult<string>).value) };
    }
    const reason = (settled.find((s) => s.status === 'rejected') as PromiseRejectedResult).reason as Error;
    this.lastError = reason.message;
    this.logger.warn(
      { err: reason, topic: this.topicName(topic), failed: failed.length, of: messages.length },
      'pubsub bus: publish failed; spooling',
    );
    const spooled = await this.toSpool(topic, failed);
    let next = 0;
    return {
      messageIds: settled.map((s) => (s.status === 'fulfilled' ? s.value : spooled.messageIds[next++])),
    };
  }

  private timeoutMs(): number {
    // The client's own deadline applies first; ours only catches a connection that hangs outright.
    return (this.options.publishTimeoutMs ?? 10_000) + 2_000;
  }

  private spoolBacklogBytes(): number {
    let bytes = 0;
    for (const key of ['events', 'events-invalid'] as const) {
      const log = this.spool.log(key);
      bytes += log.end - Math.max(log.start, log.checkpoint(REPLAY_SUBSCRIPTION));
    }
    return bytes;
  }

  private async toSpool(topic: TopicKey, messages: BusMessage[]): Promise<PublishResult> {
    const incoming = messages.reduce((sum, m) => sum + dataBytes(m.data) + 64, 0);
    if (this.spoolBacklogBytes() + incoming > this.options.spoolMaxBytes) {
      this.spoolFull = true;
      throw new UnavailableError(
        `Pub/Sub is unreachable (${this.lastError ?? 'replaying'}) and the spool is full (${this.options.spoolMaxBytes} bytes)`,
        5,
      );
    }
    this.backlog[topic] += messages.length;
    try {
      const { messageIds } = await this.spool.publish(topic, messages);
      this.spoolFull = false;
      return { messageIds: messageIds.map((id) => `spool:${id}`) };
    } catch (err) {
      this.backlog[topic] -= messages.length;
      throw err instanceof UnavailableError
        ? err
        : new UnavailableError(`spool write failed: ${(err as Error).message}`);
    }
  }

  private startReplayers(): void {
    for (const key of ['events', 'events-invalid'] as const) {
      const sub = this.spool.subscribe(
        key,
        REPLAY_SUBSCRIPTION,
        async (batch) => {
          const ref = this.topicRefs[key];
          if (this.options.replayRequiresSubscription) {
            const [subs] = await ref.getSubscriptions();
            if (subs.length === 0) throw new Error(`topic ${this.topicName(key)} has no subscription yet`);
          }
          const results = await Promise.allSettled(
            batch.map((m) =>
              withTimeout(ref.publishMessage({ data: m.data, attributes: m.attributes }), this.timeoutMs()),
            ),
          );
          const failure = results.find((r) => r.status === 'rejected');
          if (failure) {
            this.lastError = String((failure.reason as Error).message);
            // The whole batch is redelivered; the ones that did go through become duplicates (at-least-once).
            throw failure.reason as Error;
          }
          this.backlog[key] -= batch.length;
          this.lastError = null;
          this.spoolFull = false;
          this.logger.info(
            { topic: this.topicName(key), replayed: batch.length, left: this.backlog[key] },
            'pubsub bus: replayed spool batch',
          );
        },
        { maxBatch: 500, maxWaitMs: 0 },
      );
      this.replayers.push(sub);
    }
  }

  subscribe(
    topic: TopicKey,
    subscription: string,
    handler: BatchHandler,
    options: SubscribeOptions = {},
  ): Subscription {
    if (this.closed) throw new Error('pubsub bus is closed');
    const sub = new PullSubscription(this.client, this.topicRefs[topic], subscription, handler, {
      maxBatch: options.maxBatch ?? 500,
      maxWaitMs: options.maxWaitMs ?? 100,
      create: this.options.createSubscriptions ?? false,
      logger: this.logger.child({ subscription }),
      onClose: () => this.pullers.delete(sub),
    });
    this.pullers.add(sub);
    return sub;
  }

  health(): BusHealth {
    const spooled = this.backlog.events + this.backlog['events-invalid'];
    if (this.closed) return { ok: false, spooled, detail: 'closed' };
    const spoolHealth = this.spool.health();
    if (!spoolHealth.ok) return { ok: false, spooled, detail: `spool: ${spoolHealth.detail}` };
    const full = this.spoolFull || this.spoolBacklogBytes() >= this.options.spoolMaxBytes;
    if (spooled > 0) {
      return {
        ok: !full,
        spooled,
        detail: `${full ? 'spool full; ' : ''}${spooled} messages spooled${this.lastError ? ` (Pub/Sub: ${this.lastError})` : ''}`,
      };
    }
    return { ok: true, spooled: 0 };
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    void p.finally(() => this.inflight.delete(p));
  }

  /** Sends pending publisher batches now and waits for in-flight publishes (confirmed or spooled). */
  async flush(): Promise<void> {
    await Promise.all(Object.values(this.topicRefs).map((t) => t.flush().catch(() => undefined)));
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    await this.spool.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.flush();
    this.closed = true;
    await Promise.all([...this.pullers].map((p) => p.close()));
    await Promise.all(this.replayers.map((r) => r.close()));
    await this.spool.close();
    await this.client.close();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Pub/Sub within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

interface PullOptions {
  maxBatch: number;
  maxWaitMs: number;
  create: boolean;
  logger: Logger;
  onClose: () => void;
}

/** A streaming-pull reader that hands messages over in batches and acks only after the handler resolves. */
class PullSubscription implements Subscription {
  private pending: Message[] = [];
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private closed = false;
  private readonly ready: Promise<void>;
  private sub: ReturnType<PubSub['subscription']> | null = null;

  constructor(
    private readonly client: PubSub,
    private readonly topic: Topic,
    private readonly name: string,
    private readonly handler: BatchHandler,
    private readonly options: PullOptions,
  ) {
    this.ready = this.start().catch((err: unknown) => {
      options.logger.error({ err }, 'pubsub bus: could not open the pull subscription');
    });
  }

  private async start(): Promise<void> {
    if (this.options.create) {
      const [exists] = await this.client.subscription(this.name).exists();
      if (!exists) {
        try {
          await this.topic.createSubscription(this.name);
        } catch (err) {
          if ((err as { code?: number }).code !== 6) throw err; // 6 = ALREADY_EXISTS: created concurrently
        }
      }
    }
    if (this.closed) return;
    const sub = this.client.subscription(this.name, {
      flowControl: { maxMessages: this.options.maxBatch * 2, allowExcessMessages: false },
    });
    sub.on('message', (m: Message) => this.onMessage(m));
    sub.on('error', (err: Error) => this.options.logger.warn({ err }, 'pubsub bus: pull subscription error'));
    this.sub = sub;
  }

  private onMessage(m: Message): void {
    this.pending.push(m);
    if (this.pending.length >= this.options.maxBatch) this.dispatch();
    else if (!this.timer) this.timer = setTimeout(() => this.dispatch(), this.options.maxWaitMs);
  }

  private dispatch(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const batch = this.pending.splice(0, this.options.maxBatch);
    if (batch.length === 0) return;
    // One batch at a time per subscription; Pub/Sub redelivers nacked messages.
    this.chain = this.chain.then(async () => {
      const delivered: DeliveredMessage[] = batch.map((m) => ({
        data: m.data,
        attributes: { ...m.attributes },
        messageId: m.id,
        publishTime: new Date(m.publishTime.getTime()),
      }));
      try {
        await this.handler(delivered);
        for (const m of batch) m.ack();
      } catch (err) {
        this.options.logger.warn({ err, messages: batch.length }, 'handler failed; nacking for redelivery');
        for (const m of batch) m.nack();
      }
    });
    if (this.pending.length >= this.options.maxBatch) this.dispatch();
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.ready;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    for (const m of this.pending.splice(0)) m.nack();
    await this.chain;
    await this.sub?.close();
    this.options.onClose();
  }
}
