/**
 * Logging: pino in Cloud Logging's JSON shape (`severity`, `message`, trace) with PII and secrets redacted;
 * readable lines on a terminal. Child loggers bind `component`, `source`, `sync`, `destination`.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

const SEVERITY: Record<string, string> = {
  trace: 'DEBUG',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARNING',
  error: 'ERROR',
  fatal: 'CRITICAL',
};

/** Paths whose values never reach a log line. */
export const REDACT_PATHS = [
  'email',
  'phone',
  '*.email',
  '*.phone',
  '*.*.email',
  '*.*.phone',
  'traits.email',
  'traits.phone',
  'context.traits.email',
  'context.traits.phone',
  'properties.email',
  'properties.phone',
  'event.traits.email',
  'event.traits.phone',
  'event.properties.email',
  'event.properties.phone',
  'headers.authorization',
  'headers.cookie',
  'req.headers.authorization',
  'req.headers.cookie',
  '*.access_token',
  '*.accessToken',
  '*.api_secret',
  '*.apiSecret',
  '*.token',
  '*.password',
  '*.secret',
  'access_token',
  'api_secret',
  'token',
  'password',
  'secret',
  'writeKey',
  '*.writeKey',
];

export interface LoggerOptions {
  level?: string;
  format?: 'auto' | 'json' | 'pretty';
  /** GCP project, for the `logging.googleapis.com/trace` field. */
  projectId?: string | null;
  name?: string;
  /** Write somewhere other than stdout (tests). */
  destination?: pino.DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const format = options.format ?? 'auto';
  const pretty = format === 'pretty' || (format === 'auto' && process.stdout.isTTY === true && !options.destination);
  const base: pino.LoggerOptions = {
    name: options.name ?? 'tagpipe',
    level: options.level ?? 'info',
    messageKey: 'message',
    redact: { paths: REDACT_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: {
      level: (label) => ({ severity: SEVERITY[label] ?? 'DEFAULT', level: label }),
    },
    base: undefined,
  };
  if (pretty) {
    return pino({
      ...base,
      transport: {
        target: 'pino-pretty',
        options: { messageKey: 'message', ignore: 'severity,name', translateTime: 'HH:MM:ss.l', colorize: true },
      },
    });
  }
  return options.destination ? pino(base, options.destination) : pino(base);
}

/**
 * Fields binding a request to its Cloud Trace: `X-Cloud-Trace-Context: TRACE_ID/SPAN_ID;o=1`.
 */
export function traceFields(header: string | undefined, projectId?: string | null): Record<string, string> {
  if (!header) return {};
  const match = /^([0-9a-fA-F]{32})(?:\/(\d+))?/.exec(header);
  if (!match) return {};
  const trace = projectId ? `projects/${projectId}/traces/${match[1]}` : match[1];
  const out: Record<string, string> = { 'logging.googleapis.com/trace': trace };
  if (match[2]) out['logging.googleapis.com/spanId'] = match[2];
  return out;
}

/** A logger that discards everything (tests, dry library use). */
export const silentLogger: Logger = pino({ level: 'silent' });
