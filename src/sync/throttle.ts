/**
 * Per-destination flow control for the executor: a concurrency gate (requests in flight), a token bucket
 * (sustained requests per second, bursting up to one second's worth), a shared pause that a 429's Retry-After
 * sets for every request to that destination, and the capped exponential backoff with jitter used when the
 * vendor gives no Retry-After.
 */
import type { Clock } from '../core/destination';

export class Gate {
  private active = 0;
  private readonly waiters: (() => void)[] = [];

  constructor(readonly limit: number) {}

  async acquire(): Promise<void> {
    if (this.active < this.limit) {
      this.active++;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.active--;
  }

  get inFlight(): number {
    return this.active;
  }
}

export class Throttle {
  private tokens: number;
  private last: number;
  private pausedUntil = 0;
  /** Sleeps the throttle imposed, for reporting and tests. */
  readonly waits: number[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly requestsPerSecond: number | undefined,
  ) {
    this.tokens = requestsPerSecond ? Math.max(1, requestsPerSecond) : Infinity;
    this.last = clock.now().getTime();
  }

  /** Stops every request until `ms` from now (a Retry-After applies to the whole account, not one batch). */
  pause(ms: number): void {
    this.pausedUntil = Math.max(this.pausedUntil, this.clock.now().getTime() + ms);
  }

  /** Waits for the pause to end and for a token. */
  async take(): Promise<void> {
    for (;;) {
      const now = this.clock.now().getTime();
      if (now < this.pausedUntil) {
        await this.wait(this.pausedUntil - now);
        continue;
      }
      if (!this.requestsPerSecond) return;
      const rate = this.requestsPerSecond;
      this.tokens = Math.min(Math.max(1, rate), this.tokens + ((now - this.last) / 1000) * rate);
      this.last = now;
      if (this.tokens >= 1) {
        this.tokens -= 1;
        return;
      }
      await this.wait(Math.ceil(((1 - this.tokens) / rate) * 1000));
    }
  }

  private async wait(ms: number): Promise<void> {
    this.waits.push(ms);
    await this.clock.sleep(ms);
  }
}

export interface BackoffOptions {
  baseMs: number;
  capMs: number;
  random?: () => number;
}

/** Delay before try `attempt + 1` (attempt ≥ 1): base·2^(attempt-1), capped, with "equal jitter" (half fixed). */
export function backoffMs(attempt: number, options: BackoffOptions): number {
  const random = options.random ?? Math.random;
  const ceiling = Math.min(options.capMs, options.baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
