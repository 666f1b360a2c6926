/**
 * EventBus: the durable hand-off between the collector and everything downstream (contract 2).
 * Adapters: embedded.ts (on-disk log, local mode) and pubsub.ts (Google Pub/Sub).
 */

/** Logical topics; their real names come from config (`bus.topics`). */
export type TopicKey = 'events' | 'events-invalid';

export interface BusMessage {
  /** Canonical event JSON (or invalid-event record JSON): its bytes, or the text (stored as UTF-8). */
  data: Buffer | string;
  attributes: Record<string, string>;
  /** Ordering key is not used: events carry their own timestamps. */
}

/** Size of a message's data in bytes (text is stored as UTF-8). */
export function dataBytes(data: Buffer | string): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.length;
}

export interface DeliveredMessage extends BusMessage {
  data: Buffer;
  messageId: string;
  publishTime: Date;
  /** Position in the embedded log (offset), for checkpointing; undefined for Pub/Sub. */
  position?: bigint | number;
}

export interface PublishResult {
  messageIds: string[];
}

export interface SubscribeOptions {
  /** Most messages handed to one handler call. */
  maxBatch?: number;
  /** Longest wait before a partial batch is handed over, in ms. */
  maxWaitMs?: number;
}

/**
 * A subscription handler. It resolves once the messages are durably processed; the bus then
 * checkpoints (embedded) or acks (Pub/Sub). A rejection means: deliver them again.
 */
export type BatchHandler = (messages: DeliveredMessage[]) => Promise<void>;

export interface Subscription {
  close(): Promise<void>;
}

export interface BusHealth {
  ok: boolean;
  /** Messages accepted but not yet confirmed by the bus (spooled). */
  spooled: number;
  detail?: string;
}

export interface EventBus {
  readonly kind: 'embedded' | 'pubsub';
  /**
   * Resolves only when every message is durable (fsynced to the log, confirmed by Pub/Sub, or
   * fsynced to the spool). Rejects with UnavailableError when it cannot take them.
   */
  publish(topic: TopicKey, messages: BusMessage[]): Promise<PublishResult>;
  /** Named, checkpointed reader. */
  subscribe(topic: TopicKey, subscription: string, handler: BatchHandler, options?: SubscribeOptions): Subscription;
  health(): BusHealth;
  /** Publishes whatever is pending; used on SIGTERM. */
  flush(): Promise<void>;
  close(): Promise<void>;
}
