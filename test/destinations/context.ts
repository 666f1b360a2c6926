/** Builds a `DestinationContext` for destination tests: the real HTTP client, a fixed clock, a silent logger. */
import type { DestinationContext, HttpClient } from '../../src/core/destination';
import { createHttpClient } from '../../src/core/http';
import { silentLogger } from '../../src/core/logger';

export const FIXED_NOW = new Date('2026-11-20T12:00:00Z');

export function testContext<C>(
  config: C,
  options: { now?: Date; validate?: boolean; http?: HttpClient; timeoutMs?: number } = {},
): DestinationContext<C> {
  const now = options.now ?? FIXED_NOW;
  return {
    config,
    http: options.http ?? createHttpClient({ timeoutMs: options.timeoutMs ?? 5000, userAgent: 'tagpipe-test' }),
    logger: silentLogger,
    clock: { now: () => now, sleep: () => Promise.resolve() },
    dryRun: false,
    validate: options.validate,
  };
}

/** An address nothing listens on, for network-failure tests. */
export const DEAD_ENDPOINT = 'http://127.0.0.1:9';
