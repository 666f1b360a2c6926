/**
 * The one config reader. `parseConfig(env, file)` merges an optional tagpipe.yaml with environment
 * variables, validates everything with zod and is the only place in the code base that reads process.env
 * (entry points pass `process.env` in; tests pass plain objects).
 */
import fs from 'node:fs';
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { ConfigError } from './errors';

/** EEA + UK + Switzerland: regions where consent defaults to denied unless configured otherwise. */
export const EEA_UK_CH = [
  'AT', 'BE', 'BG', 'HR', 'CY', 'CZ', 'DK', 'EE', 'FI', 'FR', 'DE', 'GR', 'HU', 'IE', 'IT', 'LV', 'LT', 'LU', 'MT',
  'NL', 'PL', 'PT', 'RO', 'SK', 'SI', 'ES', 'SE', 'IS', 'LI', 'NO', 'GB', 'CH',
]; // prettier-ignore

// 0 = any free port (tests, benchmarks).
const port = z.coerce.number().int().min(0).max(65535);
const csv = z.preprocess(
  (v) =>
    typeof v === 'string'
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string()),
);
const bool = z.preprocess(
  (v) => (typeof v === 'string' ? ['1', 'true', 'yes', 'on'].includes(v.toLowerCase()) : v),
  z.boolean(),
);

export const configSchema = z.object({
  /** local: embedded bus + DuckDB; gcp: Pub/Sub + BigQuery. */
  mode: z.enum(['local', 'gcp']).default('local'),
  dataDir: z.string().default('.tagpipe'),
  server: z
    .object({
      host: z.string().default('0.0.0.0'),
      port: port.default(8080),
      /** Trust X-Forwarded-For from this many proxies (Cloud Run + load balancer = 2). */
      trustProxyHops: z.coerce.number().int().min(0).max(5).default(1),
      /** Seconds to drain on SIGTERM; Cloud Run allows ~10. */
      shutdownGraceSeconds: z.coerce.number().min(1).max(60).default(8),
    })
    .prefault({}),
  auth: z
    .object({
      /** Segment write keys accepted (Basic auth user or `writeKey` in the body). Empty = any, local only. */
      writeKeys: csv.default([]),
      /** GA4 measurement ids accepted on /g/collect. Empty = any. */
      ga4MeasurementIds: csv.default([]),
    })
    .prefault({}),
  limits: z
    .object({
      /** Segment's documented limits: 32 KB per event, 500 KB per batch. */
      eventBytes: z.coerce
        .number()
        .int()
        .positive()
        .default(32 * 1024),
      batchBytes: z.coerce
        .number()
        .int()
        .positive()
        .default(500 * 1024),
      /** GA4 hits are small; a /g/collect body over this is refused. */
      ga4BodyBytes: z.coerce
        .number()
        .int()
        .positive()
        .default(64 * 1024),
    })
    .prefault({}),
  cookie: z
    .object({
      name: z
        .string()
        .regex(/^[A-Za-z0-9_-]+$/)
        .default('tp_id'),
      /** Registrable domain for the first-party id cookie, e.g. example.com. Unset = host-only. */
      domain: z.string().nullish(),
      /** Chrome caps cookie lifetime at 400 days. */
      maxAgeDays: z.coerce.number().int().min(1).max(400).default(400),
      /** Secure is required by browsers for SameSite=None; off only for plain-http local development. */
      secure: bool.default(true),
    })
    .prefault({}),
  cors: z
    .object({
      /** Browser origins allowed to send with credentials, e.g. https://www.example.com. `*` = any (local only). */
      origins: csv.default([]),
    })
    .prefault({}),
  consent: z
    .object({
      /** Regions (ISO 3166-1 alpha-2) where consent defaults to denied when the payload says nothing. */
      denyRegions: csv.default(EEA_UK_CH),
      /** Default when the region is unknown: granted or denied. */
      unknownRegion: z.enum(['granted', 'denied']).default('granted'),
      /** Honour Global Privacy Control (Sec-GPC: 1) as an ads opt-out. */
      honorGpc: bool.default(true),
    })
    .prefault({}),
  geo: z
    .object({
      /** Request headers set by a trusted load balancer, e.g. X-Client-Geo-Country. Unset = no geo. */
      countryHeader: z.string().nullish(),
      regionHeader: z.string().nullish(),
      cityHeader: z.string().nullish(),
    })
    .prefault({}),
  ip: z
    .object({
      /** truncate (default), keep the full address, or drop it. */
      policy: z.enum(['truncate', 'full', 'drop']).default('truncate'),
      v4PrefixBits: z.coerce.number().int().min(0).max(32).default(24),
      v6PrefixBits: z.coerce.number().int().min(0).max(128).default(48),
    })
    .prefault({}),
  bus: z
    .object({
      kind: z.enum(['embedded', 'pubsub']).optional(),
      projectId: z.string().nullish(),
      topics: z
        .object({ events: z.string().default('events'), invalid: z.string().default('events-invalid') })
        .prefault({}),
      /** On-disk spool used while Pub/Sub is unreachable; 503 + Retry-After once full. */
      spoolMaxBytes: z.coerce
        .number()
        .int()
        .positive()
        .default(256 * 1024 * 1024),
    })
    .prefault({}),
  warehouse: z
    .object({
      kind: z.enum(['duckdb', 'bigquery']).optional(),
      projectId: z.string().nullish(),
      location: z.string().default('US'),
      rawDataset: z.string().default('raw'),
      martsDataset: z.string().default('marts'),
      stateDataset: z.string().default('_tagpipe'),
    })
    .prefault({}),
  debug: z
    .object({
      /** Token that unlocks /debug. Unset: /debug is open in local mode and closed in gcp mode. */
      token: z.string().min(8).nullish(),
    })
    .prefault({}),
  models: z
    .object({
      /** Local stack: run the dbt models every N seconds (0 = never). */
      intervalSeconds: z.coerce.number().int().min(0).default(60),
      /** Local stack: also run them after this many landed events. */
      afterEvents: z.coerce.number().int().min(0).default(5000),
    })
    .prefault({}),
  log: z
    .object({
      level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
      /** pretty for a terminal, json for Cloud Logging; auto picks by TTY. */
      format: z.enum(['auto', 'json', 'pretty']).default('auto'),
    })
    .prefault({}),
  /** Sync definitions, validated by src/sync/config.ts. */
  syncs: z.array(z.record(z.string(), z.unknown())).default([]),
  /** Named destination configs, validated by each destination's schema. */
  destinations: z.record(z.string(), z.record(z.string(), z.unknown())).default({}),
});

export type Config = z.infer<typeof configSchema> & {
  bus: { kind: 'embedded' | 'pubsub' };
  warehouse: { kind: 'duckdb' | 'bigquery' };
  /** Where the values came from, for start-up messages. */
  meta: { file: string | null; devDefaults: string[] };
};

/** Environment variable → config path. The only mapping from env names to settings. */
export const ENV_MAP: Record<string, string> = {
  TAGPIPE_MODE: 'mode',
  TAGPIPE_DATA_DIR: 'dataDir',
  TAGPIPE_HOST: 'server.host',
  PORT: 'server.port',
  TAGPIPE_PORT: 'server.port',
  TAGPIPE_TRUST_PROXY_HOPS: 'server.trustProxyHops',
  TAGPIPE_WRITE_KEYS: 'auth.writeKeys',
  TAGPIPE_GA4_MEASUREMENT_IDS: 'auth.ga4MeasurementIds',
  TAGPIPE_COOKIE_NAME: 'cookie.name',
  TAGPIPE_COOKIE_DOMAIN: 'cookie.domain',
  TAGPIPE_COOKIE_SECURE: 'cookie.secure',
  TAGPIPE_CORS_ORIGINS: 'cors.origins',
  TAGPIPE_CONSENT_DENY_REGIONS: 'consent.denyRegions',
  TAGPIPE_CONSENT_UNKNOWN_REGION: 'consent.unknownRegion',
  TAGPIPE_GEO_COUNTRY_HEADER: 'geo.countryHeader',
  TAGPIPE_GEO_REGION_HEADER: 'geo.regionHeader',
  TAGPIPE_GEO_CITY_HEADER: 'geo.cityHeader',
  TAGPIPE_IP_POLICY: 'ip.policy',
  TAGPIPE_BUS: 'bus.kind',
  GOOGLE_CLOUD_PROJECT: 'bus.projectId',
  TAGPIPE_PUBSUB_PROJECT: 'bus.projectId',
  TAGPIPE_TOPIC_EVENTS: 'bus.topics.events',
  TAGPIPE_TOPIC_INVALID: 'bus.topics.invalid',
  TAGPIPE_SPOOL_MAX_BYTES: 'bus.spoolMaxBytes',
  TAGPIPE_WAREHOUSE: 'warehouse.kind',
  TAGPIPE_BQ_PROJECT: 'warehouse.projectId',
  TAGPIPE_BQ_LOCATION: 'warehouse.location',
  TAGPIPE_DEBUG_TOKEN: 'debug.token',
  TAGPIPE_MODELS_INTERVAL_SECONDS: 'models.intervalSeconds',
  TAGPIPE_LOG_LEVEL: 'log.level',
  TAGPIPE_LOG_FORMAT: 'log.format',
};

const SECRET_KEY = /(token|secret|password|key|credential)s?$/i;

export interface ParseConfigOptions {
  /** Path of tagpipe.yaml; when absent, ./tagpipe.yaml is used if it exists. */
  file?: string | null;
  /** Values from CLI flags, highest precedence, as config paths (e.g. { 'server.port': 9000 }). */
  overrides?: Record<string, unknown>;
  cwd?: string;
}

function setPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const parts = dotted.split('.');
  let node = target;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[part] = {};
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value;
}

function readFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = YAML.parse(text, { merge: true }) ?? {};
  } catch (err) {
    throw new ConfigError(`config file ${file} is not valid YAML: ${(err as Error).message}`);
  }
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`config file ${file} must hold a mapping of settings at the top level`);
  }
  return expandEnvRefs(doc as Record<string, unknown>, file);
}

/** `${ENV_NAME}` inside string values of the YAML file is replaced by that variable (for secrets). */
let envForRefs: Record<string, string | undefined> = {};
function expandEnvRefs<T>(value: T, file: string): T {
  if (typeof value === 'string') {
    return value.replace(/\$\{([A-Z0-9_]+)\}/g, (_m, name: string) => {
      const v = envForRefs[name];
      if (v === undefined) throw new ConfigError(`config file ${file} refers to \${${name}}, which is not set`, name);
      return v;
    }) as T;
  }
  if (Array.isArray(value)) return value.map((v) => expandEnvRefs(v, file)) as T;
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = expandEnvRefs(v, file);
    return out as T;
  }
  return value;
}

function describeExpected(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return `expected ${issue.expected}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
    case 'too_small':
      return `expected at least ${String(issue.minimum)}`;
    case 'too_big':
      return `expected at most ${String(issue.maximum)}`;
    default:
      return issue.message;
  }
}

/** Validates and returns the whole config. Throws ConfigError naming the field and what is expected. */
export function parseConfig(env: Record<string, string | undefined>, options: ParseConfigOptions = {}): Config {
  envForRefs = env;
  const cwd = options.cwd ?? process.cwd();
  let file = options.file ?? env.TAGPIPE_CONFIG ?? null;
  if (!file && fs.existsSync(path.join(cwd, 'tagpipe.yaml'))) file = 'tagpipe.yaml';
  const resolvedFile = file ? path.resolve(cwd, file) : null;
  const raw: Record<string, unknown> = resolvedFile ? readFile(resolvedFile) : {};
  const fromEnv = new Map<string, string>();
  for (const [name, dotted] of Object.entries(ENV_MAP)) {
    const value = env[name];
    if (value !== undefined && value !== '') {
      setPath(raw, dotted, value);
      fromEnv.set(dotted, name);
    }
  }
  for (const [dotted, value] of Object.entries(options.overrides ?? {})) {
    if (value !== undefined) setPath(raw, dotted, value);
  }
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((issue) => {
      const dotted = issue.path.join('.');
      const where = fromEnv.has(dotted)
        ? ` (from ${fromEnv.get(dotted)})`
        : resolvedFile
          ? ` (in ${resolvedFile})`
          : '';
      return `  ${dotted || '(root)'}: ${describeExpected(issue)}${where}`;
    });
    throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`, parsed.error.issues[0]?.path.join('.'));
  }
  const cfg = parsed.data;
  const busKind = cfg.bus.kind ?? (cfg.mode === 'gcp' ? 'pubsub' : 'embedded');
  const warehouseKind = cfg.warehouse.kind ?? (cfg.mode === 'gcp' ? 'bigquery' : 'duckdb');
  const devDefaults: string[] = [];
  // In gcp mode write keys are required by the collector only (`requireCollectorAuth`); sync jobs collect nothing.
  if (cfg.auth.writeKeys.length === 0 && cfg.mode === 'local') {
    cfg.auth.writeKeys = ['dev'];
    devDefaults.push('accepting Segment write key "dev"');
  }
  if (cfg.auth.ga4MeasurementIds.length === 0) devDefaults.push('accepting any GA4 measurement id');
  if (cfg.mode === 'local' && cfg.cors.origins.length === 0) {
    cfg.cors.origins = ['*'];
    devDefaults.push('allowing browser requests from any origin');
  }
  if (cfg.mode === 'gcp' && cfg.cors.origins.includes('*')) {
    throw new ConfigError('cors.origins: "*" is not allowed in gcp mode; list your site origins', 'cors.origins');
  }
  if (busKind === 'pubsub' && !cfg.bus.projectId) {
    throw new ConfigError(
      'bus.projectId: expected a GCP project id for the Pub/Sub bus (set GOOGLE_CLOUD_PROJECT)',
      'bus.projectId',
    );
  }
  return {
    ...cfg,
    bus: { ...cfg.bus, kind: busKind },
    warehouse: { ...cfg.warehouse, kind: warehouseKind },
    meta: { file: resolvedFile, devDefaults },
  } as Config;
}

/** The collector refuses to start in gcp mode without write keys (it would accept no Segment calls). */
export function requireCollectorAuth(config: Config): void {
  if (config.auth.writeKeys.length === 0) {
    throw new ConfigError(
      'auth.writeKeys: expected at least one Segment write key in gcp mode (set TAGPIPE_WRITE_KEYS or auth.writeKeys in tagpipe.yaml)',
      'auth.writeKeys',
    );
  }
}

/** A copy safe to print: secrets replaced by their length. */
export function redactConfig(value: unknown, key = ''): unknown {
  if (typeof value === 'string' && SECRET_KEY.test(key) && !/keys$/i.test(key)) return `*** (${value.length} chars)`;
  if (Array.isArray(value)) {
    return SECRET_KEY.test(key) ? value.map((v) => (typeof v === 'string' ? `*** (${v.length} chars)` : v)) : value;
  }
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redactConfig(v, k);
    return out;
  }
  return value;
}
