/**
 * Sync definitions: the `syncs:` entries of tagpipe.yaml, validated with zod. A sync reads one mart (contract 4),
 * plans what changed against its state in `_tagpipe`, and hands rows to one destination.
 *
 * Modes: `append` sends each row once (conversions, events), `mirror` keeps a destination audience equal to the
 * rows of the source (adds and removes), `upsert` sends new and changed rows (CRM records).
 */
import { z } from 'zod';
import type { Config } from '../core/config';
import { ConfigError } from '../core/errors';
import { parseCron } from './cron';

export const SYNC_MODES = ['upsert', 'mirror', 'append'] as const;
export type SyncMode = (typeof SYNC_MODES)[number];

const identifier = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a column name (letters, digits, _)');
const purpose = z.enum(['analytics', 'ads', 'ad_user_data', 'ad_personalization']);

/** Default key column per standard mart (docs/marts.md). */
export const DEFAULT_KEYS: Record<string, string> = {
  conversions: 'conversion_key',
  audience_members: 'member_key',
  users: 'person_id',
  events: 'event_id',
  sessions: 'session_key',
};

export const syncSchema = z
  .object({
    /** Used in state table names and the outbox file name. */
    name: z
      .string()
      .regex(/^[a-z][a-z0-9_]{0,62}$/, 'expected lower-case letters, digits and _ (starting with a letter)'),
    /** Mart to read: `conversions` (= marts.conversions) or `dataset.table`. */
    source: z
      .string()
      .regex(/^([A-Za-z_][A-Za-z0-9_-]*\.)?[A-Za-z_][A-Za-z0-9_]*$/, 'expected a mart name or dataset.table'),
    /** Destination module name, e.g. meta-capi (a folder under destinations/). */
    destination: z.string().regex(/^[a-z0-9-]+$/, 'expected a destination name such as meta-capi'),
    /** Destination config; when absent, `destinations.<destination>` (or `destinations.<sync name>`) is used. */
    config: z.record(z.string(), z.unknown()).optional(),
    mode: z.enum(SYNC_MODES),
    /** Stable key column; defaults per standard mart (conversion_key, member_key, person_id, event_id). */
    key: identifier.optional(),
    /** Destination field → source column. Absent: every source column under its own name. */
    fields: z.record(z.string(), identifier).optional(),
    /** Columns that identify the person to the vendor: rows with all of them NULL are not planned. */
    identifiers: z.array(identifier).default([]),
    /** Extra SQL condition on the source rows, e.g. `audience_id = 'high_value'`. */
    where: z.string().min(1).optional(),
    /** Consent purposes required on top of what the destination declares. */
    consent: z.array(purpose).default([]),
    /** A 5-field cron expression (UTC) for batch runs, or `stream` for per-event sends from the bus. */
    cadence: z.string().default('0 * * * *'),
    /** Mirror syncs refuse to remove more than this share of the audience without --force. */
    maxDeletePercent: z.number().min(0).max(100).default(20),
    /** Records per request; at most the destination's own limit. */
    batchSize: z.number().int().positive().optional(),
    /** Send in the destination's validation mode (GA4 debug endpoint, Meta test_event_code, validateOnly). */
    validate: z.boolean().default(false),
    /** append: time column for the watermark, and how far back a first run (or late rows) may reach. */
    timeColumn: identifier.default('occurred_at'),
    lookbackDays: z.number().positive().max(400).default(7),
    /** Tries per record for retryable outcomes before the run gives up on it (it is planned again next run). */
    maxAttempts: z.number().int().min(1).max(20).default(5),
    /** stream syncs: event names (canonical `event`) this sync sends; empty = every track event. */
    events: z.array(z.string().min(1)).default([]),
    /** Always write requests to the outbox instead of sending. */
    dryRun: z.boolean().default(false),
    enabled: z.boolean().default(true),
  })
  .superRefine((sync, ctx) => {
    if (sync.cadence !== 'stream') {
      try {
        parseCron(sync.cadence);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['cadence'], message: (error as Error).message });
      }
    } else if (sync.mode !== 'append') {
      ctx.addIssue({
        code: 'custom',
        path: ['cadence'],
        message: 'cadence "stream" needs mode append (events are sent once)',
      });
    }
    const table = sync.source.split('.').pop() as string;
    if (!sync.key && !DEFAULT_KEYS[table]) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: `expected a key column (no default for source ${sync.source})`,
      });
    }
  });

export type SyncInput = z.input<typeof syncSchema>;
export type SyncDefinition = z.output<typeof syncSchema> & {
  key: string;
  /** Destination config after resolution (not yet validated by the destination's schema). */
  destinationConfig: Record<string, unknown>;
};

/** Validates one sync entry; `destinations` supplies shared destination configs. */
export function parseSync(entry: unknown, destinations: Config['destinations'] = {}, where = 'syncs'): SyncDefinition {
  const parsed = syncSchema.safeParse(entry);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${where}.${i.path.join('.') || '(entry)'}: ${i.message}`);
    throw new ConfigError(
      `invalid sync definition:\n${lines.join('\n')}`,
      `${where}.${parsed.error.issues[0]?.path.join('.')}`,
    );
  }
  const sync = parsed.data;
  const table = sync.source.split('.').pop() as string;
  const destinationConfig = sync.config ?? destinations[sync.name] ?? destinations[sync.destination] ?? {};
  return { ...sync, key: sync.key ?? DEFAULT_KEYS[table], destinationConfig };
}

/** Every sync in the config, validated; names must be unique. */
export function parseSyncs(config: Pick<Config, 'syncs' | 'destinations'>): SyncDefinition[] {
  const syncs = config.syncs.map((entry, i) => parseSync(entry, config.destinations, `syncs.${i}`));
  const seen = new Set<string>();
  for (const sync of syncs) {
    if (seen.has(sync.name)) throw new ConfigError(`syncs: the name "${sync.name}" is used twice`, 'syncs');
    seen.add(sync.name);
  }
  return syncs;
}

export function findSync(syncs: SyncDefinition[], name: string): SyncDefinition {
  const sync = syncs.find((s) => s.name === name);
  if (!sync) {
    const known = syncs.map((s) => s.name).join(', ') || 'none defined';
    throw new ConfigError(`no sync named "${name}" in tagpipe.yaml (known: ${known})`, 'syncs');
  }
  return sync;
}

/** The source table as (dataset, table); a bare name is a mart. */
export function sourceTable(sync: Pick<SyncDefinition, 'source'>, martsDataset = 'marts'): [string, string] {
  const parts = sync.source.split('.');
  return parts.length === 2 ? [parts[0], parts[1]] : [martsDataset, parts[0]];
}
