/**
 * Errors that say what happens next. Every layer throws one of these; one place per destination maps
 * HTTP statuses and vendor codes onto them.
 */

/** Bad or missing configuration: fail the job and tell the operator what to change. */
export class ConfigError extends Error {
  override name = 'ConfigError';
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** One record cannot be sent or stored: drop it, count it, keep why. */
export class InvalidRecordError extends Error {
  override name = 'InvalidRecordError';
  constructor(
    message: string,
    readonly details: string[] = [],
  ) {
    super(message);
  }
}

/** A transient failure: try again later. */
export class RetryableError extends Error {
  override name = 'RetryableError';
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

/** The other side asked us to slow down: wait at least `retryAfterMs`. */
export class RateLimitedError extends RetryableError {
  override name = 'RateLimitedError';
}

/** The request itself is malformed; the collector answers 4xx with this message. */
export class BadRequestError extends Error {
  override name = 'BadRequestError';
  constructor(
    message: string,
    readonly status = 400,
    readonly code = 'bad_request',
  ) {
    super(message);
  }
}

/** Bus or spool cannot take more right now: answer 503 with Retry-After. */
export class UnavailableError extends Error {
  override name = 'UnavailableError';
  constructor(
    message: string,
    readonly retryAfterSeconds = 5,
  ) {
    super(message);
  }
}

/** Parses an HTTP `Retry-After` header (seconds or HTTP date) into milliseconds. */
export function parseRetryAfter(value: string | null | undefined, now = Date.now()): number | undefined {
  if (!value) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const at = Date.parse(trimmed);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
